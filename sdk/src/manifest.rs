//! The manifest reference (doc page).
