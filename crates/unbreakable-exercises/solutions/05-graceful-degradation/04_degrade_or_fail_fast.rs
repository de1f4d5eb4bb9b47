// Exercise 05.4: where degrading stops paying.
//
// What to do: the inventory service is down during checkout. Degrading (accepting orders
// without checking stock) costs `oversell` dollars for every order beyond the stock;
// failing fast costs `lost` dollars for every unit of stock that the returning customers
// cannot buy. Write both costs and `crossing`, the stock at which they are equal. Only
// `orders` units could have sold at all: stock beyond the orders is no loss of failing
// fast, and neither is stock the returning customers buy.
// Why it matters: "degrade" is not always the kind answer. Where a wrong answer is
// expensive and stock is scarce, a clear "try again later" costs less.
// Chapter: 05-graceful-degradation, "Fail fast or degrade?" and exercise 4.
// Hint: with `orders` orders and `returning` customers who come back, which cost grows
//   with the stock and which shrinks, and where do two straight lines meet?

/// What degrading costs with `stock` units: every order beyond the stock is oversold.
pub fn degrade_cost(orders: f64, stock: f64, oversell: f64) -> f64 {
    oversell * (orders - stock).max(0.0)
}

/// What failing fast costs: the stock the returning customers cannot buy goes unsold.
pub fn fail_fast_cost(orders: f64, returning: f64, stock: f64, lost: f64) -> f64 {
    lost * (stock.min(orders) - returning).max(0.0)
}

/// The stock where the two costs meet, for `returning <= stock <= orders`.
pub fn crossing(orders: f64, returning: f64, oversell: f64, lost: f64) -> f64 {
    (oversell * orders + lost * returning) / (oversell + lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chapters_numbers() {
        // 900 orders, 450 come back; $40 per oversold order, $10 per unsold unit.
        assert!((crossing(900.0, 450.0, 40.0, 10.0) - 810.0).abs() < 1e-9);
        assert_eq!(fail_fast_cost(900.0, 450.0, 900.0, 10.0), 4500.0);
        assert_eq!(fail_fast_cost(900.0, 450.0, 2000.0, 10.0), 4500.0);
        assert_eq!(fail_fast_cost(900.0, 450.0, 300.0, 10.0), 0.0);
        assert_eq!(degrade_cost(900.0, 810.0, 40.0), fail_fast_cost(900.0, 450.0, 810.0, 10.0));
        assert_eq!(degrade_cost(900.0, 1000.0, 40.0), 0.0);
    }

    #[test]
    fn cheaper_overselling_moves_the_crossing_down() {
        assert!((crossing(900.0, 450.0, 10.0, 10.0) - 675.0).abs() < 1e-9);
    }
}
