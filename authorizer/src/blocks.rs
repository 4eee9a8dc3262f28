//! A token's blocks, decoded once from biscuit's protobuf schema, each with
//! the symbol table biscuit-auth resolves it against: the authority block and
//! every first-party block share one table made of all their symbols (later
//! blocks' included, as biscuit-auth builds it); a third-party block (one with
//! an external signature) has a table of its own.

use std::sync::LazyLock;

use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::format::schema;
use prost::Message;

/// Where a table's own symbols start; lower ids are biscuit's default symbols.
const SYMBOL_OFFSET: u64 = 1024;

/// The decoded blocks of a token, authority first.
#[derive(Debug, Clone, Default)]
pub struct TokenBlocks {
    blocks: Vec<(schema::Block, bool)>,
    first_party_symbols: Vec<String>,
}

/// One block and the table its symbols resolve against.
#[derive(Debug, Clone, Copy)]
pub struct BlockView<'t> {
    /// Index in the token (0 is the authority block).
    pub index: usize,
    /// The block.
    pub block: &'t schema::Block,
    /// Whether it is a third-party block.
    pub third_party: bool,
    symbols: &'t [String],
}

impl BlockView<'_> {
    /// The table this block's symbols resolve against.
    pub fn symbols(&self) -> &[String] {
        self.symbols
    }

    /// Symbol `id` as biscuit-auth resolves it for this block.
    pub fn symbol(&self, id: u64) -> Option<&str> {
        symbol(self.symbols, id)
    }
}

impl TokenBlocks {
    /// Decodes a serialized token's blocks (nothing is verified here).
    pub fn decode(token: &[u8]) -> Result<TokenBlocks, prost::DecodeError> {
        let envelope = schema::Biscuit::decode(token)?;
        let mut decoded = TokenBlocks::default();
        for signed in std::iter::once(&envelope.authority).chain(&envelope.blocks) {
            let block = schema::Block::decode(&signed.block[..])?;
            let third_party = signed.external_signature.is_some();
            if !third_party {
                decoded
                    .first_party_symbols
                    .extend(block.symbols.iter().cloned());
            }
            decoded.blocks.push((block, third_party));
        }
        Ok(decoded)
    }

    /// How many blocks the token has.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the token has no block (never true of a token that verified).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The blocks, authority first, each with its symbol table.
    pub fn iter(&self) -> impl Iterator<Item = BlockView<'_>> {
        self.blocks
            .iter()
            .enumerate()
            .map(|(index, (block, third_party))| BlockView {
                index,
                block,
                third_party: *third_party,
                symbols: if *third_party {
                    &block.symbols
                } else {
                    &self.first_party_symbols
                },
            })
    }
}

/// Symbol `id`: below 1024 from biscuit's default table, above from `table`.
pub fn symbol(table: &[String], id: u64) -> Option<&str> {
    static DEFAULTS: LazyLock<SymbolTable> = LazyLock::new(SymbolTable::new);
    match id.checked_sub(SYMBOL_OFFSET) {
        None => DEFAULTS.get_symbol(id),
        Some(index) => table.get(usize::try_from(index).ok()?).map(String::as_str),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

    #[test]
    fn first_party_blocks_resolve_against_every_first_party_symbol() {
        let token = Biscuit::builder()
            .code(r#"user("alice");"#)
            .expect("code")
            .build(&KeyPair::new())
            .expect("build")
            .append(BlockBuilder::new().code(r#"team("blue");"#).expect("code"))
            .expect("append");
        let blocks = TokenBlocks::decode(&token.to_vec().expect("serialize")).expect("decode");
        let views: Vec<_> = blocks.iter().collect();
        assert_eq!(views.len(), 2);
        // Block 1's own symbol resolves from block 0's view too: one shared table.
        let team = views[1].block.facts[0].predicate.name;
        assert_eq!(views[0].symbol(team), Some("team"));
        assert_eq!(views[1].symbol(team), Some("team"));
    }
}
