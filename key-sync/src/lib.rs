//! key-sync: not built yet (see the open key-sync issue).
