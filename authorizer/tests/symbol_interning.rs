//! The patched biscuit-auth interns symbols with an index once a table is
//! large (`biscuit-auth-patched/PATCH.md`): ids must stay exactly those of
//! 6.0.0's scan, whatever the table's size and history, since a wrong id
//! would make one string read as another. Checked against a model of the
//! scan, over a long deterministic mix of operations.

use biscuit_auth::datalog::SymbolTable;

/// 6.0.0's interning: the default symbols (read from the crate, by id:
/// `get_symbol` is as published), then the first occurrence in the table's
/// own symbols, from id 1024.
struct Scan {
    defaults: Vec<String>,
    symbols: Vec<String>,
}

impl Scan {
    fn new(symbols: Vec<String>) -> Scan {
        let table = SymbolTable::new();
        let defaults = (0..)
            .map_while(|id| table.get_symbol(id).map(str::to_owned))
            .collect();
        Scan { defaults, symbols }
    }

    fn get(&self, s: &str) -> Option<u64> {
        if let Some(i) = self.defaults.iter().position(|d| d == s) {
            return Some(i as u64);
        }
        self.symbols
            .iter()
            .position(|x| x == s)
            .map(|i| 1024 + i as u64)
    }

    fn insert(&mut self, s: &str) -> u64 {
        self.get(s).unwrap_or_else(|| {
            self.symbols.push(s.to_owned());
            1024 + self.symbols.len() as u64 - 1
        })
    }
}

#[test]
fn interning_gives_the_ids_of_a_scan_at_every_size() {
    // A token's table may hold a string twice; the first occurrence wins.
    let start: Vec<String> = ["a", "b", "a", "c"].map(String::from).to_vec();
    let mut table = SymbolTable::from(start.clone()).expect("no default symbol");
    let mut model = Scan::new(start);
    assert_eq!(model.defaults.len(), 28, "biscuit's default symbols");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..20_000u32 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = (seed >> 33) as usize;
        // Mostly new or repeated strings, some defaults and the duplicated "a",
        // now and then a split or an extension.
        let text = match pick % 10 {
            0 => model.defaults[pick % model.defaults.len()].clone(),
            1 => ["a", "b", "c"][pick % 3].to_owned(),
            2..=4 => format!("s{}", pick % 50),
            _ => format!("s{}", pick % 3000),
        };
        match step % 997 {
            500 => {
                let at = model.symbols.len() / 2;
                let tail = table.split_at(at);
                let model_tail = model.symbols.split_off(at);
                assert_eq!(tail.strings(), model_tail);
            }
            900 => {
                let other: Vec<String> = (0..70).map(|i| format!("x{step}-{i}")).collect();
                table
                    .extend(&SymbolTable::from(other.clone()).expect("no default symbol"))
                    .expect("disjoint");
                model.symbols.extend(other);
            }
            _ => {}
        }
        assert_eq!(
            table.get(&text),
            model.get(&text),
            "get {text} at step {step}"
        );
        assert_eq!(
            table.insert(&text),
            model.insert(&text),
            "insert {text} at step {step}"
        );
    }
    assert_eq!(table.strings(), model.symbols);
}

#[test]
fn a_table_with_a_default_symbol_is_refused_and_overlaps_are_seen() {
    assert!(SymbolTable::from(vec!["x".into(), "nonce".into()]).is_err());
    let big = |prefix: &str| {
        SymbolTable::from((0..100).map(|i| format!("{prefix}{i}")).collect()).expect("table")
    };
    assert!(big("a").is_disjoint(&big("b")));
    let mut overlapping = big("b");
    overlapping.insert("a99");
    assert!(!big("a").is_disjoint(&overlapping));
    assert!(!overlapping.is_disjoint(&big("a")));
}
