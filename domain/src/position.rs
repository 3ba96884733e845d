//! Positions (SPEC S3): fixed positions with fixed powers.
use std::fmt;
use std::str::FromStr;

/// A position in the company (SPEC S3); it fixes what its holder may do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Position {
    Salesperson,
    SalesAssistant,
    Supervisor,
    Finance,
    Warehouse,
    Management,
    MarketSpecialist,
    Supervision,
    CallCenter,
    Analyst,
    Admin,
}

impl Position {
    pub const ALL: [Position; 11] = [
        Position::Salesperson,
        Position::SalesAssistant,
        Position::Supervisor,
        Position::Finance,
        Position::Warehouse,
        Position::Management,
        Position::MarketSpecialist,
        Position::Supervision,
        Position::CallCenter,
        Position::Analyst,
        Position::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Position::Salesperson => "SALESPERSON",
            Position::SalesAssistant => "SALES_ASSISTANT",
            Position::Supervisor => "SUPERVISOR",
            Position::Finance => "FINANCE",
            Position::Warehouse => "WAREHOUSE",
            Position::Management => "MANAGEMENT",
            Position::MarketSpecialist => "MARKET_SPECIALIST",
            Position::Supervision => "SUPERVISION",
            Position::CallCenter => "CALL_CENTER",
            Position::Analyst => "ANALYST",
            Position::Admin => "ADMIN",
        }
    }

    /// Positions on the sales side. The sales side may never confirm payment
    /// or ship goods (separation of duties, SPEC S5).
    pub fn is_sales_side(&self) -> bool {
        matches!(
            self,
            Position::Salesperson | Position::SalesAssistant | Position::Supervisor
        )
    }

    /// Positions whose work is tied to regions: they must be assigned to at
    /// least one region and can never be given a company-wide scope.
    pub fn requires_regions(&self) -> bool {
        self.is_sales_side()
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown position `{0}`")]
pub struct UnknownPosition(pub String);

impl FromStr for Position {
    type Err = UnknownPosition;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Position::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownPosition(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_position() {
        for p in Position::ALL {
            assert_eq!(p.as_str().parse::<Position>().ok(), Some(p));
        }
        assert!("boss".parse::<Position>().is_err());
    }
}
