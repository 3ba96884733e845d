//! The market prices observed in a region (DEALER and RETAIL tiers), with
//! the planted below-the-floor and tier-inversion cases.
use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{
    add_months, month_start, round_yuan, PriceObs, World, G_DONGBEI, G_XINAN, P_L, P_PRO,
    TIER_DEALER, TIER_RETAIL,
};

impl World {
    pub(super) fn region_prices(&self, r: usize, rng: &mut ChaCha8Rng, out: &mut Vec<PriceObs>) {
        let d = self.cfg.as_of;
        let xinan = self.groups[G_XINAN][0];
        let dongbei = self.groups[G_DONGBEI][0];
        let planted_floor = r == xinan;
        let planted_tier = r == dongbei;
        let mut m = month_start(self.start);
        while m <= d {
            for (pi, prod) in self.products.iter().enumerate() {
                for (tier, lo, hi) in [("DEALER", 0.98, 1.06), ("RETAIL", 0.93, 1.0)] {
                    let base = if tier == "DEALER" {
                        TIER_DEALER.0
                    } else {
                        TIER_RETAIL.0
                    };
                    for k in 0..2 {
                        let day = m + Duration::days(rng.random_range(0..28));
                        if day > d || day < self.start {
                            continue;
                        }
                        let recent = (d - day).num_days() < 30;
                        let mut f = base * rng.random_range(lo..hi);
                        if recent && tier == "DEALER" && planted_floor && pi == P_L {
                            // 91% of the DEALER floor.
                            f = TIER_DEALER.1 * 0.91;
                        }
                        if recent && tier == "DEALER" && planted_tier && pi == P_PRO {
                            f = 1.03 + 0.01 * k as f64;
                        }
                        out.push(PriceObs {
                            product: pi,
                            region: r,
                            tier,
                            price_fen: round_yuan(prod.retail_fen as f64 * f),
                            observed_on: day,
                            channel: if tier == "DEALER" {
                                "dealer visit"
                            } else {
                                "retail shop"
                            },
                        });
                    }
                }
            }
            m = add_months(m, 1);
        }
        // Make sure each planted case has observations in the last 30 days.
        for k in 0..3 {
            let day = d - Duration::days(3 + 7 * k);
            if planted_floor {
                let prod = &self.products[P_L];
                out.push(PriceObs {
                    product: P_L,
                    region: r,
                    tier: "DEALER",
                    price_fen: round_yuan(prod.retail_fen as f64 * TIER_DEALER.1 * 0.91),
                    observed_on: day,
                    channel: "dealer visit",
                });
            }
            if planted_tier {
                let prod = &self.products[P_PRO];
                out.push(PriceObs {
                    product: P_PRO,
                    region: r,
                    tier: "DEALER",
                    price_fen: round_yuan(prod.retail_fen as f64 * 1.04),
                    observed_on: day,
                    channel: "dealer visit",
                });
            }
        }
        out.sort_by_key(|p| p.observed_on);
    }
}
