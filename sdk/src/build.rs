//! Building reproducible components (doc page).
