// Exercise 03.2: retries multiply down a chain.
//
// What to do: write `calls_at_bottom(tries, layers)`, the calls that reach the bottom of
// a chain of `layers` services when each tries `tries` times and the bottom is down; and
// `budgeted_bound(ratio, layers)`, the most calls per request at the bottom when each
// layer's retry budget keeps retries to at most a share `ratio` of the calls it sends.
// Why it matters: 3 tries at each of 5 layers is 243 calls per user request, aimed at a
// service that is already failing. A budget per layer turns a product of tries into a
// product of small factors.
// Chapter: 03-circuit-breakers-and-budgets, "Retry amplification".
// Hint: if retries are at most a share r of what a layer sends, what share of what it
//   sends are first tries, and so how many calls per first try at most?

pub fn calls_at_bottom(tries: u32, layers: u32) -> u64 {
    u64::from(tries).pow(layers)
}

pub fn budgeted_bound(ratio: f64, layers: u32) -> f64 {
    (1.0 / (1.0 - ratio)).powi(layers as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_articles_chain() {
        assert_eq!(calls_at_bottom(3, 5), 243);
        assert_eq!(calls_at_bottom(1, 5), 1);
        assert_eq!(calls_at_bottom(4, 5), 1024);
        assert_eq!(calls_at_bottom(2, 10), 1024);
        assert_eq!(calls_at_bottom(3, 1), 3);
        assert_eq!(calls_at_bottom(7, 0), 1, "no layers: the request itself");
    }

    #[test]
    fn a_ten_percent_budget_per_layer() {
        let b = budgeted_bound(0.1, 5);
        assert!((b - 1.6935).abs() < 1e-4, "{b}");
        assert_eq!(budgeted_bound(0.0, 5), 1.0);
        // (1 / 0.8)^3, (1 / 0.5)^2, 1 / 0.9: worked by hand.
        for &(r, layers, want) in &[(0.2, 3, 1.953_125), (0.5, 2, 4.0), (0.1, 1, 1.0 / 0.9), (0.3, 0, 1.0)] {
            let got = budgeted_bound(r, layers);
            assert!((got - want).abs() < 1e-9, "ratio {r}, {layers} layers: {got}, want {want}");
        }
    }
}
