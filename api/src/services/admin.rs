//! Master data: regions, agents, products, warehouses, users, stock receipts.
//! Kept by the admin (stock by the warehouse keeper, credit limits by
//! management: no informal credit, SPEC S2).
use async_graphql::{InputObject, ID};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde::Serialize;

use salesguard_domain::Position;
use salesguard_entities::model::{
    agent, product, region, stock_level, stock_movement, user, user_region, warehouse,
};

use crate::audit::Entry;
use crate::auth::{hash_password, validate_new_password};
use crate::error::{bad_input, ServiceError, UserError, UserErrorCode};
use crate::graphql::ids;
use crate::idempotency::StepRun;
use crate::services::inputs;
use crate::services::require;
use salesguard_domain::Capability;

fn taken(field: &str, what: &str) -> ServiceError {
    ServiceError::User(
        UserError::new(
            UserErrorCode::AlreadyExists,
            format!("{what} is already taken"),
        )
        .at(&[field]),
    )
}

fn code(path: &str, v: &str) -> Result<String, ServiceError> {
    let v = inputs::text(&[path], v, 40)?;
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad_input(&[path], "may hold only letters, digits, - and _"));
    }
    Ok(v)
}

/// A new region, or a sub-area of one (admin only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct RegionCreateInput {
    /// Unique region code: 1 to 40 letters, digits, `-` or `_`.
    pub code: String,
    /// The region's name, 1 to 200 characters.
    pub name: String,
    /// The parent region, for a sub-area; a top-level region when omitted.
    pub parent_id: Option<ID>,
    /// Market capacity researched by the salesperson (units per year), 0 or more;
    /// unknown when omitted.
    pub market_capacity: Option<i64>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn region_create(
    run: &mut StepRun,
    input: RegionCreateInput,
) -> Result<i64, ServiceError> {
    require(run, Capability::ManageMasterData)?;
    let code = code("code", &input.code)?;
    let name = inputs::text(&["name"], &input.name, 200)?;
    let parent = match &input.parent_id {
        Some(id) => {
            let pid = ids::decode("Region", id, "parentId")?;
            region::Entity::find_by_id(pid)
                .one(&run.txn)
                .await?
                .ok_or_else(|| bad_input(&["parentId"], "no such region"))?;
            Some(pid)
        }
        None => None,
    };
    if input.market_capacity.is_some_and(|c| c < 0) {
        return Err(bad_input(&["marketCapacity"], "must not be negative"));
    }
    if region::Entity::find()
        .filter(region::Column::Code.eq(code.clone()))
        .one(&run.txn)
        .await?
        .is_some()
    {
        return Err(taken("code", "region code"));
    }
    let r = region::ActiveModel {
        code: Set(code),
        name: Set(name),
        parent_id: Set(parent),
        market_capacity: Set(input.market_capacity),
        created_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    run.audit(Entry::ok(&run.actor, "regionCreate", "Region", r.id).after(&r))
        .await?;
    Ok(r.id)
}

/// A new agent (distributor) in a region, with its credit limit (admin only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct AgentCreateInput {
    /// Unique agent code: 1 to 40 letters, digits, `-` or `_`.
    pub code: String,
    /// The agent's company name, 1 to 200 characters.
    pub name: String,
    /// The region the agent sells in; its orders belong to this region.
    pub region_id: ID,
    /// Credit limit in yuan, a decimal string (e.g. "500000.00", 0 or more): the most
    /// its unpaid shipped orders may total.
    pub credit_limit: String,
    /// The agent's address, 1 to 500 characters; the default delivery address of its
    /// orders.
    pub address: String,
    /// The person to contact at the agent, 1 to 200 characters.
    pub contact_name: String,
    /// The contact's phone number, as entered, 1 to 40 characters.
    pub phone: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn agent_create(run: &mut StepRun, input: AgentCreateInput) -> Result<i64, ServiceError> {
    require(run, Capability::ManageMasterData)?;
    let code = code("code", &input.code)?;
    let name = inputs::text(&["name"], &input.name, 200)?;
    let rid = ids::decode("Region", &input.region_id, "regionId")?;
    region::Entity::find_by_id(rid)
        .one(&run.txn)
        .await?
        .ok_or_else(|| bad_input(&["regionId"], "no such region"))?;
    let limit = inputs::money(&["creditLimit"], &input.credit_limit, false)?;
    let address = inputs::text(&["address"], &input.address, 500)?;
    let contact = inputs::text(&["contactName"], &input.contact_name, 200)?;
    let phone = inputs::text(&["phone"], &input.phone, 40)?;
    if agent::Entity::find()
        .filter(agent::Column::Code.eq(code.clone()))
        .one(&run.txn)
        .await?
        .is_some()
    {
        return Err(taken("code", "agent code"));
    }
    let a = agent::ActiveModel {
        code: Set(code),
        name: Set(name),
        region_id: Set(rid),
        credit_limit_fen: Set(limit.0),
        ar_outstanding_fen: Set(0),
        address: Set(address),
        contact_name: Set(contact),
        phone: Set(phone),
        created_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    run.audit(Entry::ok(&run.actor, "agentCreate", "Agent", a.id).after(&a))
        .await?;
    Ok(a.id)
}

/// A new credit limit for an agent, with the reason (management only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct AgentSetCreditLimitInput {
    /// The agent; one outside the caller's regions is NOT_FOUND.
    pub agent_id: ID,
    /// The new limit in yuan, a decimal string (e.g. "500000.00", 0 or more).
    pub credit_limit: String,
    /// Why the limit changes, 1 to 2000 characters; kept in the audit trail.
    pub reason: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn agent_set_credit_limit(
    run: &mut StepRun,
    input: AgentSetCreditLimitInput,
) -> Result<i64, ServiceError> {
    require(run, Capability::SetCreditLimit)?;
    let id = ids::decode("Agent", &input.agent_id, "agentId")?;
    let limit = inputs::money(&["creditLimit"], &input.credit_limit, false)?;
    let reason = inputs::text(&["reason"], &input.reason, 2000)?;
    let a = agent::Entity::find_by_id(id)
        .one(&run.txn)
        .await?
        .filter(|a| run.actor.sees_region(a.region_id))
        .ok_or_else(|| {
            ServiceError::User(
                UserError::new(UserErrorCode::NotFound, "no such agent").at(&["agentId"]),
            )
        })?;
    let before = a.clone();
    let mut am = a.into_active_model();
    am.credit_limit_fen = Set(limit.0);
    let after = am.update(&run.txn).await?;
    run.audit(
        Entry::ok(&run.actor, "agentSetCreditLimit", "Agent", id)
            .before(&before)
            .after(&after)
            .detail(reason),
    )
    .await?;
    Ok(id)
}

/// A new product with its list price (admin only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct ProductCreateInput {
    /// Unique stock-keeping unit: 1 to 40 letters, digits, `-` or `_`.
    pub sku: String,
    /// The product's name, 1 to 200 characters.
    pub name: String,
    /// List price in yuan, a decimal string (e.g. "1999.00", 0 or more).
    pub list_price: String,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn product_create(
    run: &mut StepRun,
    input: ProductCreateInput,
) -> Result<i64, ServiceError> {
    require(run, Capability::ManageMasterData)?;
    let sku = code("sku", &input.sku)?;
    let name = inputs::text(&["name"], &input.name, 200)?;
    let price = inputs::money(&["listPrice"], &input.list_price, false)?;
    if product::Entity::find()
        .filter(product::Column::Sku.eq(sku.clone()))
        .one(&run.txn)
        .await?
        .is_some()
    {
        return Err(taken("sku", "SKU"));
    }
    let p = product::ActiveModel {
        sku: Set(sku),
        name: Set(name),
        list_price_fen: Set(price.0),
        active: Set(true),
        created_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    run.audit(Entry::ok(&run.actor, "productCreate", "Product", p.id).after(&p))
        .await?;
    Ok(p.id)
}

/// A new warehouse (admin only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct WarehouseCreateInput {
    /// Unique warehouse code: 1 to 40 letters, digits, `-` or `_`.
    pub code: String,
    /// The warehouse's name, 1 to 200 characters.
    pub name: String,
    /// What the warehouse holds.
    pub kind: crate::graphql::enums::WarehouseKind,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

pub async fn warehouse_create(
    run: &mut StepRun,
    input: WarehouseCreateInput,
) -> Result<i64, ServiceError> {
    require(run, Capability::ManageMasterData)?;
    let code = code("code", &input.code)?;
    let name = inputs::text(&["name"], &input.name, 200)?;
    if warehouse::Entity::find()
        .filter(warehouse::Column::Code.eq(code.clone()))
        .one(&run.txn)
        .await?
        .is_some()
    {
        return Err(taken("code", "warehouse code"));
    }
    let w = warehouse::ActiveModel {
        code: Set(code),
        name: Set(name),
        kind: Set(
            salesguard_domain::warehouse::WarehouseKind::from(input.kind)
                .as_str()
                .into(),
        ),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    run.audit(Entry::ok(&run.actor, "warehouseCreate", "Warehouse", w.id).after(&w))
        .await?;
    Ok(w.id)
}

/// Goods booked into a warehouse (warehouse keeper only): adds to its stock on
/// hand.
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct StockReceiveInput {
    /// The warehouse receiving the goods.
    pub warehouse_id: ID,
    /// The product received.
    pub product_id: ID,
    /// Units received, a positive whole number (at most 1,000,000).
    pub quantity: i64,
    /// Optional note on the receipt, at most 500 characters.
    pub note: Option<String>,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// The warehouse keeper books goods in. Returns (warehouse id, product id).
pub async fn stock_receive(
    run: &mut StepRun,
    input: StockReceiveInput,
) -> Result<(i64, i64), ServiceError> {
    require(run, Capability::ReceiveStock)?;
    let wid = ids::decode("Warehouse", &input.warehouse_id, "warehouseId")?;
    let pid = ids::decode("Product", &input.product_id, "productId")?;
    let qty = inputs::quantity(&["quantity"], input.quantity)?;
    let note = inputs::opt_text(&["note"], input.note.as_deref(), 500)?;
    warehouse::Entity::find_by_id(wid)
        .one(&run.txn)
        .await?
        .ok_or_else(|| bad_input(&["warehouseId"], "no such warehouse"))?;
    product::Entity::find_by_id(pid)
        .one(&run.txn)
        .await?
        .ok_or_else(|| bad_input(&["productId"], "no such product"))?;
    stock_level::Entity::insert(stock_level::ActiveModel {
        warehouse_id: Set(wid),
        product_id: Set(pid),
        on_hand: Set(qty),
    })
    .on_conflict(
        OnConflict::columns([
            stock_level::Column::WarehouseId,
            stock_level::Column::ProductId,
        ])
        .value(
            stock_level::Column::OnHand,
            Expr::col((stock_level::Entity, stock_level::Column::OnHand)).add(qty),
        )
        .to_owned(),
    )
    .exec_without_returning(&run.txn)
    .await?;
    let m = stock_movement::ActiveModel {
        warehouse_id: Set(wid),
        product_id: Set(pid),
        quantity: Set(qty),
        reason: Set("RECEIPT".into()),
        shipment_id: Set(None),
        note: Set(note),
        created_by: Set(run.actor.user_id),
        created_at: Set(run.now),
        ..Default::default()
    }
    .insert(&run.txn)
    .await?;
    run.audit(Entry::ok(&run.actor, "stockReceive", "StockMovement", m.id).after(&m))
        .await?;
    Ok((wid, pid))
}

/// A new user with a position, a password and the regions they work in (admin
/// only).
#[derive(InputObject, Serialize, Clone, Debug)]
pub struct UserCreateInput {
    /// Unique sign-in name: 1 to 64 letters, digits, `.`, `_` or `-`.
    pub username: String,
    /// The name shown to others, 1 to 200 characters.
    pub display_name: String,
    /// E-mail address (must contain `@`), at most 200 characters; none when omitted.
    pub email: Option<String>,
    /// The user's position; it fixes what they may do.
    pub position: crate::graphql::enums::Position,
    /// At least 10 characters (at most 256 bytes). Never stored, only its argon2 hash.
    #[serde(skip_serializing)]
    pub password: String,
    /// Regions the user works in (their sub-areas included); at least one for a
    /// salesperson, sales assistant or supervisor.
    #[graphql(default)]
    pub region_ids: Vec<ID>,
    /// Sees every region (management, finance, warehouse, company analysts); never
    /// for a salesperson, sales assistant or supervisor. False when omitted.
    #[graphql(default)]
    pub all_regions: bool,
    /// Retry key, 1 to 200 characters, per user: a retry of a request that succeeded
    /// returns its result again; the key with another request gets IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

/// Plain data for creating a user (GraphQL or the CLI).
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub position: Position,
    pub password: String,
    pub region_ids: Vec<i64>,
    pub all_regions: bool,
}

pub async fn user_create(run: &mut StepRun, input: UserCreateInput) -> Result<i64, ServiceError> {
    require(run, Capability::ManageMasterData)?;
    let mut region_ids = vec![];
    for (i, id) in input.region_ids.iter().enumerate() {
        region_ids.push(
            ids::decode("Region", id, "regionIds").map_err(|_| {
                bad_input(&["regionIds", &i.to_string()], "is not a valid Region ID")
            })?,
        );
    }
    let new = NewUser {
        username: input.username,
        display_name: input.display_name,
        email: input.email,
        position: input.position.into(),
        password: input.password,
        region_ids,
        all_regions: input.all_regions,
    };
    let (u, after) = insert_user(&run.txn, new).await?;
    run.audit(Entry::ok(&run.actor, "userCreate", "User", u).after(&after))
        .await?;
    Ok(u)
}

/// Validates and inserts a user with their regions; returns the id and the
/// record to audit (without the password hash).
pub async fn insert_user<C: ConnectionTrait>(
    db: &C,
    new: NewUser,
) -> Result<(i64, serde_json::Value), ServiceError> {
    let username = inputs::text(&["username"], &new.username, 64)?;
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(bad_input(
            &["username"],
            "may hold only letters, digits, . _ and -",
        ));
    }
    let display = inputs::text(&["displayName"], &new.display_name, 200)?;
    let email = inputs::opt_text(&["email"], new.email.as_deref(), 200)?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(bad_input(&["email"], "is not an e-mail address"));
    }
    validate_new_password(&new.password).map_err(|m| bad_input(&["password"], m))?;
    if new.position.requires_regions() {
        if new.all_regions {
            return Err(bad_input(
                &["allRegions"],
                format!("a {} works in assigned regions only", new.position),
            ));
        }
        if new.region_ids.is_empty() {
            return Err(bad_input(
                &["regionIds"],
                format!("a {} needs at least one region", new.position),
            ));
        }
    }
    for (i, rid) in new.region_ids.iter().enumerate() {
        if region::Entity::find_by_id(*rid).one(db).await?.is_none() {
            return Err(bad_input(&["regionIds", &i.to_string()], "no such region"));
        }
    }
    if user::Entity::find()
        .filter(user::Column::Username.eq(username.clone()))
        .one(db)
        .await?
        .is_some()
    {
        return Err(taken("username", "username"));
    }
    let hash = hash_password(&new.password)?;
    let u = user::ActiveModel {
        username: Set(username),
        display_name: Set(display),
        email: Set(email),
        position: Set(new.position.as_str().into()),
        password_hash: Set(hash),
        global_scope: Set(new.all_regions),
        active: Set(true),
        created_at: Set(salesguard_domain::clock::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for rid in &new.region_ids {
        user_region::ActiveModel {
            user_id: Set(u.id),
            region_id: Set(*rid),
        }
        .insert(db)
        .await?;
    }
    let record = serde_json::json!({
        "id": u.id, "username": u.username, "position": u.position,
        "allRegions": u.global_scope, "regionIds": new.region_ids,
    });
    Ok((u.id, record))
}
