//! End-to-end tests: a real node (SQLite, and PostgreSQL when configured) on a real port,
//! the real runtime, and the compiled plugins. One test binary, so it links once.

mod e2e {
    pub mod api_contract;
    pub mod bad_input;
    pub mod bargaining;
    pub mod composition;
    pub mod concurrency;
    pub mod coupons_flow;
    pub mod distributor;
    pub mod group_buy;
    pub mod hostile;
    pub mod isolation;
    pub mod live_sale;
    pub mod orders;
    pub mod payments;
    pub mod registry;
    pub mod registry_refusals;
    pub mod runtime;
    pub mod split_coupons;
    pub mod store_binding;
}
