//! Fair admission of growth into one stored document (the whole map or a
//! shard) when the domains that grew ask for more than its free space.
//!
//! Requests are taken smallest first; each is admitted when it fits in an
//! equal share of the space still free among the requests not yet taken. The
//! first that does not fit is refused, and so is every request after it (each
//! is at least as large), so equal requests are treated alike and the space a
//! refused request would have used stays free. A request no larger than an
//! equal share of the whole free space is therefore always admitted, whatever
//! the other domains ask for.

use std::collections::BTreeMap;

/// Why a domain's growth was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The bytes it asked for.
    pub request: usize,
    /// The fair share it was measured against, in bytes.
    pub share: usize,
    /// The document's free space before any growth, in bytes.
    pub free: usize,
    /// The number of domains that asked to grow.
    pub growers: usize,
}

/// The refused requests among `requests` (domain → bytes asked for) with
/// `free` bytes of room; every request not returned is admitted.
pub fn refused<'a>(free: usize, requests: &[(&'a str, usize)]) -> BTreeMap<&'a str, Refused> {
    let mut order: Vec<(&str, usize)> = requests.to_vec();
    order.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let growers = order.len();
    let mut left = free;
    let mut cut_at: Option<usize> = None;
    let mut refused = BTreeMap::new();
    for (taken, (domain, request)) in order.into_iter().enumerate() {
        let share = cut_at.unwrap_or(left / (growers - taken));
        if cut_at.is_none() && request <= share {
            left -= request;
            continue;
        }
        cut_at = Some(share);
        refused.insert(
            domain,
            Refused {
                request,
                share,
                free,
                growers,
            },
        );
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_domains<'a>(free: usize, requests: &[(&'a str, usize)]) -> Vec<&'a str> {
        refused(free, requests).into_keys().collect()
    }

    #[test]
    fn everything_that_fits_is_admitted() {
        assert!(refused(100, &[("a", 10), ("b", 90)]).is_empty());
        assert!(refused(0, &[]).is_empty());
        assert!(refused(0, &[("a", 0)]).is_empty());
    }

    #[test]
    fn a_large_request_cannot_refuse_a_request_within_an_equal_share() {
        // b asks for far more than there is; a, within half, is admitted.
        assert_eq!(refused_domains(100, &[("b", 10_000), ("a", 50)]), ["b"]);
        let b = refused(100, &[("b", 10_000), ("a", 50)])["b"];
        assert_eq!(
            b,
            Refused {
                request: 10_000,
                share: 50,
                free: 100,
                growers: 2
            }
        );
        // Three growers: 30 fits a third; then 60 fits the 70 left to one.
        assert!(refused(100, &[("a", 30), ("b", 60), ("c", 5)]).is_empty());
        assert_eq!(
            refused_domains(100, &[("a", 30), ("b", 70), ("c", 5)]),
            ["b"]
        );
    }

    #[test]
    fn equal_requests_are_treated_alike() {
        assert_eq!(refused_domains(100, &[("a", 60), ("b", 60)]), ["a", "b"]);
        // Once one is refused, larger ones are too, even if one would fit alone.
        assert_eq!(
            refused_domains(100, &[("a", 10), ("b", 60), ("c", 61)]),
            ["b", "c"]
        );
        assert_eq!(
            refused(100, &[("a", 10), ("b", 60), ("c", 61)])["c"].share,
            45
        );
    }

    #[test]
    fn no_free_space_refuses_every_growth() {
        assert_eq!(refused_domains(0, &[("a", 1), ("b", 2)]), ["a", "b"]);
    }
}
