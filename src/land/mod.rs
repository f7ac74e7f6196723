//! Landing a slot's branch on its base.
//!
//! - Is its work already there? `integration` (with `content`, the file-by-file comparison),
//!   asked by `rm`, `prune`, `doctor`, the board and `merge`.
//! - Would merging it conflict, with the base or with other slots? `forecast` (in-memory
//!   merges), `readiness` (per slot, for the board), `pairwise` and `order` (`ls --conflicts`).
//! - The merge itself: `merge` (the plan, every refusal), `landing` (the transaction),
//!   `base` (moving the base branch), `show` (the plan in words and JSON), `command` (the
//!   whole `git agent merge`: lock, plan, landing, removal).

pub mod base;
pub mod command;
pub mod content;
pub mod forecast;
pub mod integration;
pub mod landing;
pub mod merge;
pub mod order;
pub mod pairwise;
pub mod readiness;
pub mod show;
