//! Warehouses (SPEC S4): the finished-goods store and the spare-parts store.

stored_enum!(
    /// What a warehouse holds.
    WarehouseKind {
        /// Finished goods.
        Main = "MAIN",
        /// The spare-parts store.
        SpareParts = "SPARE_PARTS",
    }
);
