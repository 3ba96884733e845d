//! Master data: regions, agents and their credit limits, products,
//! warehouses and their stock, users.
use super::*;

/// The result of `regionCreate`.
#[derive(SimpleObject)]
pub struct RegionPayload {
    /// The region created (null when refused).
    pub region: Option<Region>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `agentCreate` or `agentSetCreditLimit`.
#[derive(SimpleObject)]
pub struct AgentPayload {
    /// The agent as saved (null when refused).
    pub agent: Option<Agent>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `productCreate`.
#[derive(SimpleObject)]
pub struct ProductPayload {
    /// The product created (null when refused).
    pub product: Option<Product>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `warehouseCreate`.
#[derive(SimpleObject)]
pub struct WarehousePayload {
    /// The warehouse created (null when refused).
    pub warehouse: Option<Warehouse>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `userCreate`.
#[derive(SimpleObject)]
pub struct UserPayload {
    /// The user created (null when refused).
    pub user: Option<User>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `stockReceive`.
#[derive(SimpleObject)]
pub struct StockLevelPayload {
    /// The product's stock in the warehouse after the receipt (null when refused).
    pub stock_level: Option<StockLevel>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MasterDataMutation;

#[Object]
impl MasterDataMutation {
    /// Create a region, or a sub-area of one with `parentId` (admin).
    async fn region_create(
        &self,
        ctx: &Context<'_>,
        input: RegionCreateInput,
    ) -> Result<RegionPayload, AppError> {
        let res = run_step!(ctx, "regionCreate", input, None, admin::region_create);
        if res.is_ok() {
            // A new sub-area widens the scope of whoever has its parent.
            app(ctx)?.regions.invalidate();
        }
        let (m, user_errors) = loaded::<region::Entity>(ctx, res).await?;
        Ok(RegionPayload {
            region: m.map(Region),
            user_errors,
        })
    }

    /// Create an agent in a region, with its credit limit (admin).
    async fn agent_create(
        &self,
        ctx: &Context<'_>,
        input: AgentCreateInput,
    ) -> Result<AgentPayload, AppError> {
        let res = run_step!(ctx, "agentCreate", input, None, admin::agent_create);
        let (m, user_errors) = loaded::<agent::Entity>(ctx, res).await?;
        Ok(AgentPayload {
            agent: m.map(Agent),
            user_errors,
        })
    }

    /// Set an agent's credit limit (management), with a reason.
    async fn agent_set_credit_limit(
        &self,
        ctx: &Context<'_>,
        input: AgentSetCreditLimitInput,
    ) -> Result<AgentPayload, AppError> {
        let res = run_step!(
            ctx,
            "agentSetCreditLimit",
            input,
            None,
            admin::agent_set_credit_limit
        );
        let (m, user_errors) = loaded::<agent::Entity>(ctx, res).await?;
        Ok(AgentPayload {
            agent: m.map(Agent),
            user_errors,
        })
    }

    /// Create a product with its list price (admin).
    async fn product_create(
        &self,
        ctx: &Context<'_>,
        input: ProductCreateInput,
    ) -> Result<ProductPayload, AppError> {
        let res = run_step!(ctx, "productCreate", input, None, admin::product_create);
        let (m, user_errors) = loaded::<product::Entity>(ctx, res).await?;
        Ok(ProductPayload {
            product: m.map(Product),
            user_errors,
        })
    }

    /// Create a warehouse (admin).
    async fn warehouse_create(
        &self,
        ctx: &Context<'_>,
        input: WarehouseCreateInput,
    ) -> Result<WarehousePayload, AppError> {
        let res = run_step!(ctx, "warehouseCreate", input, None, admin::warehouse_create);
        let (m, user_errors) = loaded::<warehouse::Entity>(ctx, res).await?;
        Ok(WarehousePayload {
            warehouse: m.map(Warehouse),
            user_errors,
        })
    }

    /// Book goods into a warehouse (warehouse keeper).
    async fn stock_receive(
        &self,
        ctx: &Context<'_>,
        input: StockReceiveInput,
    ) -> Result<StockLevelPayload, AppError> {
        let res = run_step!(ctx, "stockReceive", input, None, admin::stock_receive);
        Ok(match res {
            Ok((w, p)) => StockLevelPayload {
                stock_level: stock_level::Entity::find_by_id((w, p))
                    .one(&app(ctx)?.db.read)
                    .await?
                    .map(StockLevel),
                user_errors: vec![],
            },
            Err(e) => StockLevelPayload {
                stock_level: None,
                user_errors: vec![e],
            },
        })
    }

    /// Create a user with a position, a password and the regions they work in
    /// (or a company-wide scope) (admin).
    async fn user_create(
        &self,
        ctx: &Context<'_>,
        input: UserCreateInput,
    ) -> Result<UserPayload, AppError> {
        let res = run_step!(ctx, "userCreate", input, None, admin::user_create);
        let (m, user_errors) = loaded::<user::Entity>(ctx, res).await?;
        Ok(UserPayload {
            user: m.map(User),
            user_errors,
        })
    }
}
