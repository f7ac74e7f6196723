//! Landing a slot's branch on its base: whether its work is already there (`integration`),
//! whether merging it would conflict, with the base or with other slots (`forecast`, `order`),
//! and the merge itself as one transaction (`merge`).

pub mod integration;
pub mod forecast;
pub mod order;
pub mod readiness;
pub mod pairwise;
