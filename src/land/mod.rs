//! Landing a slot's branch on its base: whether its work is already there (`integration`),
//! whether merging it would conflict, with the base or with other slots (`forecast`, `order`),
//! and the merge itself as one transaction (`merge`).

pub mod base;
pub mod forecast;
pub mod integration;
pub mod landing;
pub mod merge;
pub mod order;
pub mod pairwise;
pub mod readiness;
