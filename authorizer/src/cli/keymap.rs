//! `authz keymap`: the domain-keyed map the authorizer reads, from BWKS documents.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config;
use crate::keyset::{self, KeySets};
use crate::store::{self, Manifest, ShardRef, Stored};

use super::CliError;

/// Arguments of `authz keymap`.
#[derive(Debug, clap::Args)]
pub struct KeymapArgs {
    /// `DOMAIN=BWKS_FILE` pairs: each domain's published document.
    #[arg(required = true, value_name = "DOMAIN=BWKS_FILE")]
    pub domains: Vec<String>,
    /// Split the map into this many shard files, written with their manifest
    /// (`keysets.json`) into `--out`; give the manifest as `KEYSETS_FILE`.
    #[arg(long, default_value_t = 1, requires = "out")]
    pub shards: usize,
    /// The directory to write into (created if missing): `keysets.json`, the
    /// whole map or, with `--shards`, the manifest beside its shard files.
    /// Without it the whole map is printed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Validates each document as key-sync does and prints the map as key-sync
/// stores it. A public key in the documents of two domains is refused, as
/// key-sync refuses it when neither held it before ([`keyset::assign_owners`]).
pub fn run(args: &KeymapArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut key_sets = KeySets::new();
    for pair in &args.domains {
        let (domain, path) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("{pair:?} is not DOMAIN=BWKS_FILE")))?;
        let path = PathBuf::from(path);
        let document = std::fs::read(&path).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
        let (keys, skipped) = keyset::validate_published(domain, &document, SystemTime::now())
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
        for entry in skipped {
            eprintln!("authz: {domain}: skipped a key: {}", entry.reason);
        }
        if key_sets.insert(domain.to_owned(), keys).is_some() {
            return Err(CliError::Input(format!("domain {domain} given twice")));
        }
    }
    let (key_sets, conflicts) = keyset::assign_owners(&KeySets::new(), key_sets);
    if let Some((domain, conflict)) = conflicts
        .iter()
        .flat_map(|(domain, found)| found.iter().map(move |c| (domain, c)))
        .next()
    {
        return Err(CliError::Input(format!("{domain}: {conflict}")));
    }
    match (&args.out, args.shards) {
        (Some(dir), shards) if shards > 1 => write_shards(&key_sets, shards, dir, out),
        (Some(dir), _) => {
            let path = create_dir(dir)?.join(MAP_FILE);
            let map = keyset::canonical_json(&key_sets);
            std::fs::write(&path, map).map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
            writeln!(out, "{}", path.display())?;
            Ok(())
        }
        (None, _) => {
            writeln!(out, "{}", keyset::canonical_json(&key_sets))?;
            Ok(())
        }
    }
}

/// The file `--out` holds the map (or manifest) in.
const MAP_FILE: &str = "keysets.json";

/// Creates `dir` and its parents if missing.
fn create_dir(dir: &Path) -> Result<&Path, CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        path: dir.to_owned(),
        source,
    })?;
    Ok(dir)
}

/// Writes `shard-N.json` files and their manifest `keysets.json` into `dir`,
/// created if missing (the manifest's generation follows the one already
/// there); prints the manifest's path.
fn write_shards(
    key_sets: &KeySets,
    shards: usize,
    dir: &Path,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if shards > store::MAX_SHARDS {
        return Err(CliError::Input(format!(
            "--shards {shards}: at most {} shards",
            store::MAX_SHARDS
        )));
    }
    create_dir(dir)?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| CliError::Io { path, source })
    };
    let manifest_path = dir.join(MAP_FILE);
    let generation = match std::fs::read(&manifest_path).map(|text| Stored::parse(&text)) {
        Ok(Ok(Stored::Manifest(previous))) => previous.generation + 1,
        _ => 1,
    };
    let contents = store::split(key_sets, shards);
    let mut refs = Vec::with_capacity(shards);
    for (shard, document) in store::shard_documents(&contents).iter().enumerate() {
        if document.len() > store::SHARD_BUDGET_BYTES {
            eprintln!(
                "authz: shard {shard} is {} bytes, over the {}-byte budget of a secret; use more shards to store it in Secrets Manager",
                document.len(),
                store::SHARD_BUDGET_BYTES
            );
        }
        let name = format!("shard-{shard}.json");
        write(&name, document)?;
        refs.push(ShardRef {
            id: name,
            version: config::file_version(document.as_bytes()),
        });
    }
    write(
        MAP_FILE,
        &Manifest::new(generation, refs, &contents).to_json(),
    )?;
    writeln!(out, "{}", manifest_path.display())?;
    Ok(())
}
