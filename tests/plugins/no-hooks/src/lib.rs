//! A component that exports none of the plugin contract's hooks (it does not use the SDK at
//! all): publishing must refuse it instead of installing something every checkout would
//! then fail on.

/// Exported as a plain core function; the component exports no `baseplate:plugin/hooks`.
#[unsafe(no_mangle)]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}
