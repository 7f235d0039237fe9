//! Property tests of the agent's decoders and parsers (issue 20): configuration, state
//! files, output escaping. Every function is named `prop_*`, so that the soak run
//! (`PROPTEST_CASES=… cargo test prop_`) finds them; the peer server's and the log
//! state's are beside their modules (`peers/server/prop_tests.rs`,
//! `measurements/prop_tests.rs`), whose private parts they need.

mod config;
mod output;
mod render;
mod replay;
mod state;

use proptest::prelude::ProptestConfig;

/// `n` cases unless PROPTEST_CASES says otherwise (the soak run raises it).
pub fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}
