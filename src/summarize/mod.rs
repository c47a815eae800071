//! (not yet built)
