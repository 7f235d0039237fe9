//! Placeholder until the firmware issue: the engine built for a board.
#![no_std]
#![no_main]
