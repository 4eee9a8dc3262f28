// Mints and attenuates Biscuit tokens with biscuit-wasm, for tests/interop_wasm.py.
//
// Input, a JSON spec as the first argument or on stdin:
//   {"private_key": "hex or ed25519-private/hex" (optional: a fresh Ed25519 key pair otherwise),
//    "key_id": 7,
//    "tokens": {"name": {"authority": "datalog", "blocks": ["datalog", ...], "key_id": 9 (optional)},
//               "name": {"token": "base64url", "blocks": [...]}}}
// Each token's authority block is built with the root key id set (BiscuitBuilder.setRootKeyId;
// the token's own key_id, else the spec's, else none),
// then each of its blocks is appended with Biscuit.appendBlock. A "token" entry is read instead
// (verified with the spec's key) and attenuated the same way.
// Output, one JSON line on stdout:
//   {"biscuit_wasm": version, "algorithm": "ed25519", "public_key": hex, "key_id": 7,
//    "tokens": {"name": base64url}, "blocks": {"name": count}}
// biscuit-wasm 0.6 logs "biscuit-wasm loading" with console.log when its module starts, so the
// module is imported only once console.log writes to stderr: stdout carries the JSON alone.
// Node 22 loads it as is; Node 20 needs `node --experimental-wasm-modules`.
import { readFileSync } from "node:fs";

console.log = (...args) => console.error(...args);
const { Biscuit, BiscuitBuilder, BlockBuilder, KeyPair, PrivateKey, SignatureAlgorithm } =
  await import("@biscuit-auth/biscuit-wasm");
const { version } = JSON.parse(
  readFileSync(new URL("./node_modules/@biscuit-auth/biscuit-wasm/package.json", import.meta.url)));

// biscuit-wasm throws plain objects such as {"InvalidKey": "Missing key algorithm"}.
const failure = (what, error) =>
  new Error(`${what}: ${error instanceof Error ? error.message : JSON.stringify(error)}`);

function privateKey(text) {
  if (!text) return new KeyPair(SignatureAlgorithm.Ed25519).getPrivateKey();
  try {
    return text.includes("/") ? PrivateKey.fromString(text)
      : PrivateKey.fromBytes(Uint8Array.from(Buffer.from(text, "hex")), SignatureAlgorithm.Ed25519);
  } catch (error) {
    throw failure("private key", error);
  }
}

const spec = JSON.parse(process.argv[2] ?? readFileSync(0, "utf8"));
const root = privateKey(spec.private_key);
const publicKey = KeyPair.fromPrivateKey(root).getPublicKey();
const [algorithm, publicHex] = publicKey.toString().split("/"); // "ed25519/<hex>"
const out = { biscuit_wasm: version, algorithm, public_key: publicHex, key_id: spec.key_id, tokens: {}, blocks: {} };
for (const [name, { authority, token: given, blocks = [], key_id = spec.key_id }] of Object.entries(spec.tokens)) {
  try {
    let token;
    if (given) {
      token = Biscuit.fromBase64(given, publicKey);
    } else {
      const builder = new BiscuitBuilder();
      builder.addCode(authority);
      if (key_id !== undefined && key_id !== null) builder.setRootKeyId(key_id);
      token = builder.build(root);
    }
    for (const code of blocks) {
      const block = new BlockBuilder();
      block.addCode(code);
      token = token.appendBlock(block);
    }
    Biscuit.fromBase64(token.toBase64(), publicKey); // it verifies under its own key
    out.tokens[name] = token.toBase64();
    out.blocks[name] = token.countBlocks();
  } catch (error) {
    throw failure(`token ${name}`, error);
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
