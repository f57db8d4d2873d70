//! The helpers of `make bench` (binary `hubpulse-bench`).
