//! The market inputs of the risk signals: forecasts, sell-through, unit
//! sightings, observed prices, and the price list.
use super::*;

/// The result of `forecastSubmit`.
#[derive(SimpleObject)]
pub struct ForecastSubmitPayload {
    /// The forecast rows of this submission, as saved (empty when refused).
    pub forecasts: Vec<Forecast>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of a bulk input: sell-through, unit sightings or price
/// observations.
#[derive(SimpleObject)]
pub struct BulkPayload {
    /// Rows accepted and rows refused (null when the whole request was refused).
    pub result: Option<BulkResult>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `priceListSet`.
#[derive(SimpleObject)]
pub struct PriceListPayload {
    /// The price list entry as saved (null when refused).
    pub entry: Option<PriceListEntry>,
    /// Why the request was refused (nothing changed); empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MarketMutation;

#[Object]
impl MarketMutation {
    /// S4.5 Report (or replace) a month's forecast for a region (salesperson).
    async fn forecast_submit(
        &self,
        ctx: &Context<'_>,
        input: ForecastSubmitInput,
    ) -> Result<ForecastSubmitPayload, AppError> {
        let res = run_step!(ctx, "forecastSubmit", input, None, forecast_submit);
        Ok(match res {
            Ok(ids) => ForecastSubmitPayload {
                forecasts: forecast::Entity::find()
                    .filter(forecast::Column::Id.is_in(ids))
                    .all(&app(ctx)?.db.read)
                    .await?
                    .into_iter()
                    .map(Forecast)
                    .collect(),
                user_errors: vec![],
            },
            Err(e) => ForecastSubmitPayload {
                forecasts: vec![],
                user_errors: vec![e],
            },
        })
    }

    /// Record an agent's sell-through report, row by row (salesperson or
    /// assistant of the agent's region).
    async fn sell_through_record(
        &self,
        ctx: &Context<'_>,
        input: SellThroughRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(ctx, "sellThroughRecord", input, None, sell_through_record);
        Ok(bulk_payload(res))
    }

    /// Record where units turned up: activations, warranty registrations,
    /// call-back findings.
    async fn unit_sighting_record(
        &self,
        ctx: &Context<'_>,
        input: UnitSightingRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(ctx, "unitSightingRecord", input, None, unit_sighting_record);
        Ok(bulk_payload(res))
    }

    /// Record prices seen in the market (market specialist or salesperson).
    async fn price_observation_record(
        &self,
        ctx: &Context<'_>,
        input: PriceObservationRecordInput,
    ) -> Result<BulkPayload, AppError> {
        let res = run_step!(
            ctx,
            "priceObservationRecord",
            input,
            None,
            price_observation_record
        );
        Ok(bulk_payload(res))
    }

    /// Set a product's list and floor price for a channel tier (management).
    async fn price_list_set(
        &self,
        ctx: &Context<'_>,
        input: PriceListSetInput,
    ) -> Result<PriceListPayload, AppError> {
        let res = run_step!(ctx, "priceListSet", input, None, price_list_set);
        Ok(match res {
            Ok(key) => PriceListPayload {
                entry: price_list_entry::Entity::find_by_id(key)
                    .one(&app(ctx)?.db.read)
                    .await?
                    .map(PriceListEntry),
                user_errors: vec![],
            },
            Err(e) => PriceListPayload {
                entry: None,
                user_errors: vec![e],
            },
        })
    }
}

fn bulk_payload(res: Result<BulkResult, UserError>) -> BulkPayload {
    match res {
        Ok(r) => BulkPayload {
            result: Some(r),
            user_errors: vec![],
        },
        Err(e) => BulkPayload {
            result: None,
            user_errors: vec![e],
        },
    }
}
