//! Prints the contract version, for the image build to stamp as a label and an annotation
//! (.github/workflows/image.yml): the crate that defines it is the only place it is read
//! from.
//!
//! `cargo run -q -p rates-contract --example contract_version` -> `1`

fn main() {
    println!("{}", rates_contract::CONTRACT_VERSION);
}
