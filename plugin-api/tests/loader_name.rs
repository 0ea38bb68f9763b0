//! The export macro hard-codes abi_stable's root-module symbol name (macro_rules cannot compute
//! it); this fails if an abi_stable upgrade changes it.
#[test]
fn export_symbol_matches_abi_stable() {
    assert_eq!(
        loopchain_plugin_api::sdk::ROOT_MODULE_SYMBOL,
        loopchain_plugin_api::abi_stable::library::ROOT_MODULE_LOADER_NAME
    );
}

/// The consensus export macro writes the same symbol.
#[test]
fn consensus_export_symbol_matches_abi_stable() {
    let src = include_str!("../src/consensus/mod.rs");
    let line = format!("#[export_name = \"{}\"]", loopchain_plugin_api::abi_stable::library::ROOT_MODULE_LOADER_NAME);
    assert!(src.contains(&line), "export_consensus! must export {line}");
}
