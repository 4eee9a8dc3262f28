//! An upper bound on the work and memory of one Datalog evaluation.
//!
//! biscuit-auth 6 evaluates naively: each iteration applies every rule to the
//! facts present at the start of the iteration, until an iteration adds
//! nothing; then it runs every check and policy query once. One rule or query
//! with body predicates `p1 … pk` is a nested loop: level `j` scans every
//! visible fact for one matching `pj` and extends each partial binding; every
//! full binding evaluates the expressions. So its work is at most
//!
//! ```text
//! scans    × N × SCAN                      N: facts visible (≤ F)
//! + partial × (BIND + arity × V)           partial = m1 + m1·m2 + … + m1·…·mk
//! + full    × (expressions + INSERT)       full = m1·…·mk;  mi: facts of pi
//! ```
//!
//! where `mi` bounds the facts of predicate `pi` at the start of any iteration:
//! the facts asserted by the token, the policy and the request, plus what
//! rules can derive (the least fixpoint of "each rule derives at most one fact
//! per full binding, or one fact if its head has no variables"), never more
//! than `F = max(max_facts, asserted facts)`: biscuit stops with "too many
//! facts" at the end of the iteration that reaches `max_facts`. Rules are
//! applied once per iteration: `depth + 1` iterations when no rule depends on
//! itself, else `max_iterations`.
//!
//! An expression's cost is the sum of its operations, each at most
//! `OP + V`, where `V` bounds the cost of copying or comparing one value: a
//! collection has at most `L × (1 + unions)` elements and a string at most
//! `S × (1 + additions)` bytes, `L` and `S` the largest collection and string
//! anywhere in the program or request. A closure with a parameter runs its
//! body once per element; concatenation and `.type()` intern their result by a
//! linear search of the strings interned so far in this binding; a regular
//! expression (a literal that compiles within a size limit) costs a fixed
//! compile plus a per-byte match.
//!
//! The constants are in work units of about a nanosecond on the reference
//! machine, each set above the cost measured for its step there (see
//! BENCHMARKS.md, "worst case by attack class"); all arithmetic saturates.

use std::collections::HashMap;

use biscuit_auth::builder::{Fact, Term};
use biscuit_auth::AuthorizerLimits;

use super::program::{Body, Program, Rule, Step};

/// Default work budget of a decision: about 5 ms of Datalog on the reference machine.
pub const DEFAULT_MAX_WORK: u64 = 5_000_000;

/// Default memory budget of one evaluation.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 8 * 1024 * 1024;

/// Scanning one visible fact for a predicate match (its origin set is
/// compared with the trusted origins).
const SCAN: u64 = 50;
/// Extending a partial binding (a hash map of variables is cloned).
const BIND: u64 = 600;
/// Inserting a derived fact into the fact set.
const INSERT: u64 = 800;
/// One expression operation on small values.
const OP: u64 = 60;
/// Copying or comparing one element of a collection.
const ELEMENT: u64 = 40;
/// Bytes of string handled per work unit.
const BYTES_PER_UNIT: u64 = 2;
/// Comparing one string while interning (a linear search of a table).
const INTERN: u64 = 20;
/// Symbols in biscuit-auth's default table, searched before any other.
const DEFAULT_SYMBOLS: u64 = 28;
/// Entering a closure (its body's operations are cloned).
const CLOSURE: u64 = 100;
/// Compiling a regular expression within the size limit.
const REGEX_COMPILE: u64 = 400_000;
/// Matching one byte of the haystack.
const REGEX_BYTE: u64 = 50;
/// Bytes held per derived fact, besides its terms.
const FACT_BYTES: u64 = 96;
/// Bytes held per term of a derived fact, besides collection elements.
const TERM_BYTES: u64 = 40;
/// Queries the authorizer runs after an allow (principal, context, holder).
const GRANT_QUERIES: u64 = 3;

/// The bound for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkBound {
    /// Work units.
    pub work: u64,
    /// Bytes of Datalog state.
    pub memory_bytes: u64,
    /// Iterations of the rules counted.
    pub iterations: u64,
}

/// The bound of evaluating `programs` together with `request_facts`.
pub fn bound(
    programs: &[&Program],
    request_facts: &[Fact],
    limits: &AuthorizerLimits,
    policy_trusts_more_blocks: bool,
) -> WorkBound {
    let mut asserted: HashMap<&str, u64> = HashMap::new();
    let mut longest_string = 0u64;
    let mut largest_collection = 0u64;
    // Strings in the authorizer's symbol table: every one is interned by a
    // linear search when the authorizer is built, and the table is searched
    // again by every concatenation or `.type()`.
    let mut table = DEFAULT_SYMBOLS;
    let mut widest = 0u64;
    for program in programs {
        for (name, count) in &program.facts {
            *asserted.entry(name).or_default() += count;
        }
        longest_string = longest_string.max(program.max_string);
        largest_collection = largest_collection.max(program.max_collection);
        table = table.saturating_add(program.symbols);
        widest = widest.max(program.max_arity);
    }
    for fact in request_facts {
        *asserted.entry(&fact.predicate.name).or_default() += 1;
        let terms = fact.predicate.terms.len() as u64;
        table = table.saturating_add(1 + terms);
        widest = widest.max(terms);
        for term in &fact.predicate.terms {
            if let Term::Str(text) = term {
                longest_string = longest_string.max(text.len() as u64);
            }
        }
    }
    let rules: Vec<Derivation> = programs
        .iter()
        .flat_map(|program| {
            program.rules.iter().map(move |rule| Derivation {
                rule,
                copies: origin_sets(program, rule, policy_trusts_more_blocks),
            })
        })
        .collect();
    let queries = programs.iter().flat_map(|p| &p.queries);
    let asserted_total = asserted.values().fold(0u64, |a, b| a.saturating_add(*b));
    let ceiling = limits.max_facts.max(asserted_total);
    let sizes = Sizes {
        collection: largest_collection.max(1),
        string: longest_string,
        table,
    };

    let counts = fact_counts(&asserted, &rules, ceiling);
    let visible = counts
        .values()
        .fold(0u64, |a, b| a.saturating_add(*b))
        .min(ceiling);
    let iterations = iterations(&rules, &counts, limits.max_iterations);

    // One term of any fact, cloned or hashed.
    let term = OP
        .saturating_add(sizes.collection.saturating_mul(ELEMENT))
        .saturating_add(sizes.string / BYTES_PER_UNIT);
    let mut per_iteration = 0u64;
    let mut derived_per_iteration = 0u64;
    let mut temporaries = 0u64;
    for Derivation { rule, .. } in &rules {
        let insert = INSERT.saturating_add(rule.head_arity.saturating_mul(term));
        let cost = body_cost(&rule.body, &counts, visible, sizes, insert);
        per_iteration = per_iteration.saturating_add(cost.work);
        derived_per_iteration = derived_per_iteration.saturating_add(cost.full);
        temporaries = temporaries.max(cost.temporary_bytes);
    }
    let mut work = per_iteration.saturating_mul(iterations);
    for query in queries {
        let cost = body_cost(query, &counts, visible, sizes, 0);
        work = work.saturating_add(cost.work);
        temporaries = temporaries.max(cost.temporary_bytes);
    }
    // The principal, context and holder queries scan every fact and convert
    // each match's terms.
    let per_match = SCAN
        .saturating_add(INSERT)
        .saturating_add(widest.saturating_mul(term));
    work = work.saturating_add(
        GRANT_QUERIES
            .saturating_mul(visible)
            .saturating_mul(per_match),
    );
    // Building the authorizer interns every symbol by a linear search.
    work = work.saturating_add(table.saturating_mul(table).saturating_mul(INTERN));

    // Facts held: those present when the last iteration starts, plus what it derives.
    let fact_bytes = FACT_BYTES.saturating_add(
        widest.saturating_mul(TERM_BYTES.saturating_add(sizes.collection.saturating_mul(ELEMENT))),
    );
    let memory_bytes = ceiling
        .saturating_add(derived_per_iteration)
        .saturating_mul(fact_bytes)
        .saturating_add(temporaries);
    WorkBound {
        work,
        memory_bytes,
        iterations,
    }
}

/// Largest collection (elements) and string (bytes) any fact or literal
/// holds, and the strings in the authorizer's symbol table.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    collection: u64,
    string: u64,
    table: u64,
}

/// Upper bounds on the facts of each predicate at the start of any iteration.
fn fact_counts<'a>(
    asserted: &HashMap<&'a str, u64>,
    rules: &[Derivation<'a>],
    ceiling: u64,
) -> HashMap<&'a str, u64> {
    let mut counts: HashMap<&str, u64> = asserted
        .iter()
        .map(|(k, v)| (*k, (*v).min(ceiling)))
        .collect();
    // A predicate never has more facts than the ceiling, nor more than it
    // asserts plus what its rules can derive when each is capped (a head
    // without variables and without scopes: a few origin sets).
    let mut limit: HashMap<&str, u64> = asserted.iter().map(|(k, v)| (*k, *v)).collect();
    for derivation in rules {
        counts.entry(&derivation.rule.head).or_insert(0);
        let most = if derivation.rule.constant_head {
            derivation.copies
        } else {
            u64::MAX
        };
        let entry = limit.entry(&derivation.rule.head).or_insert(0);
        *entry = entry.saturating_add(most);
    }
    let limit_of = |name: &str| limit.get(name).copied().unwrap_or(0).min(ceiling);
    // Each pass can only raise counts; a chain of n rules settles within n
    // passes. Whatever still rises after that is on a cycle: the ceiling.
    let settle = rules.len() + 1;
    for pass in 0..=2 * settle {
        let mut next: HashMap<&str, u64> = asserted.iter().map(|(k, v)| (*k, *v)).collect();
        for derivation in rules {
            let entry = next.entry(&derivation.rule.head).or_insert(0);
            *entry = entry.saturating_add(derivation.derivable(&counts));
        }
        let mut changed = false;
        for (name, count) in next {
            let count = count.min(limit_of(name));
            let current = counts.entry(name).or_insert(0);
            if count > *current {
                *current = if pass >= settle {
                    limit_of(name)
                } else {
                    count
                };
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    counts
}

/// Iterations of the rules: one per level of derivation plus the one that
/// finds nothing new; when a rule depends on itself, every iteration but the
/// last adds a fact, so at most one more than the facts rules can derive.
/// Never more than `max_iterations`.
fn iterations(rules: &[Derivation<'_>], counts: &HashMap<&str, u64>, max_iterations: u64) -> u64 {
    let max_iterations = max_iterations.max(1);
    if rules.is_empty() {
        return 1;
    }
    let derivable = rules
        .iter()
        .map(|derivation| derivation.derivable(counts))
        .fold(1u64, u64::saturating_add);
    // depth[i]: the iteration in which rule i can first derive something new.
    let mut depth = vec![1u64; rules.len()];
    for _ in 0..=rules.len() {
        let mut changed = false;
        for (i, derivation) in rules.iter().enumerate() {
            let needed = rules
                .iter()
                .enumerate()
                .filter(|(_, other)| derivation.rule.body.predicates.contains(&other.rule.head))
                .map(|(j, _)| depth[j] + 1)
                .max()
                .unwrap_or(1);
            if needed > depth[i] {
                depth[i] = needed;
                changed = true;
            }
        }
        if !changed {
            let deepest = depth.iter().copied().max().unwrap_or(1);
            return (deepest + 1).min(derivable).min(max_iterations);
        }
    }
    derivable.min(max_iterations)
}

/// A rule and how many copies of one fact it can derive.
struct Derivation<'a> {
    rule: &'a Rule,
    /// Distinct origin sets its facts can carry (`u64::MAX`: unbounded).
    copies: u64,
}

impl Derivation<'_> {
    /// (origin, fact) pairs it can derive in all: one per binding, and for
    /// a head without variables one per origin set at most.
    fn derivable(&self, counts: &HashMap<&str, u64>) -> u64 {
        let full = self
            .rule
            .body
            .predicates
            .iter()
            .fold(1u64, |product, name| {
                product.saturating_mul(counts.get(name.as_str()).copied().unwrap_or(0))
            });
        if self.rule.constant_head {
            full.min(self.copies)
        } else {
            full
        }
    }
}

/// Origin sets a rule's derived facts can carry. Without scopes, a token
/// rule in block b trusts blocks 0 and b and the authorizer, so its facts'
/// origins are the subsets of {0, b, authorizer} that hold b: 4. A policy
/// rule trusts block 0 and the authorizer: 2. A rule with scopes (or a policy
/// trusting minters' blocks) may see any block: unbounded.
fn origin_sets(program: &Program, rule: &Rule, policy_trusts_more_blocks: bool) -> u64 {
    let scoped = rule.scoped || (program.policy && policy_trusts_more_blocks);
    match (scoped, program.policy) {
        (true, _) => u64::MAX,
        (false, true) => 2,
        (false, false) => 4,
    }
}

/// The cost of one application of a body.
struct BodyCost {
    work: u64,
    full: u64,
    temporary_bytes: u64,
}

fn body_cost(
    body: &Body,
    counts: &HashMap<&str, u64>,
    visible: u64,
    sizes: Sizes,
    per_result: u64,
) -> BodyCost {
    let mut product = 1u64;
    let mut partial = 0u64;
    let mut scans = 1u64;
    for (level, name) in body.predicates.iter().enumerate() {
        product = product.saturating_mul(counts.get(name.as_str()).copied().unwrap_or(0));
        partial = partial.saturating_add(product);
        if level + 1 < body.predicates.len() {
            scans = scans.saturating_add(product);
        }
    }
    let full = product;
    let shape = ExpressionShape::of(&body.expressions, sizes, body.variables);
    let value = shape.value_cost();
    let bind = BIND.saturating_add(body.max_arity.saturating_mul(value));
    let expressions = body
        .expressions
        .iter()
        .fold(0u64, |sum, steps| sum.saturating_add(shape.cost(steps)));
    let work = if body.predicates.is_empty() {
        0
    } else {
        scans.saturating_mul(visible).saturating_mul(SCAN)
    }
    .saturating_add(partial.saturating_mul(bind))
    .saturating_add(full.saturating_mul(expressions.saturating_add(per_result)));
    BodyCost {
        work,
        full,
        temporary_bytes: shape.interned.saturating_mul(shape.string),
    }
}

/// Runtime size bounds for the expressions of one body.
struct ExpressionShape {
    /// Most elements of any collection value.
    collection: u64,
    /// Most bytes of any string value.
    string: u64,
    /// Most strings interned while evaluating one binding.
    interned: u64,
    /// Strings in the authorizer's table, searched before the interned ones.
    table: u64,
    /// Variables bound in the body, all copied by every closure application.
    variables: u64,
}

impl ExpressionShape {
    fn of(expressions: &[Vec<Step>], sizes: Sizes, variables: u64) -> ExpressionShape {
        let count = |wanted: &dyn Fn(&Step) -> bool| {
            expressions
                .iter()
                .map(|steps| count_static(steps, wanted))
                .fold(0u64, u64::saturating_add)
        };
        let unions = count(&|step| matches!(step, Step::Union));
        let additions = count(&|step| matches!(step, Step::Add));
        let collection = sizes.collection.saturating_mul(unions.saturating_add(1));
        let string = sizes.string.saturating_mul(additions.saturating_add(1));
        let interned = expressions
            .iter()
            .map(|steps| count_dynamic(steps, collection))
            .fold(0u64, u64::saturating_add);
        ExpressionShape {
            collection,
            string,
            interned,
            table: sizes.table,
            variables,
        }
    }

    /// Copying or comparing one value.
    fn value_cost(&self) -> u64 {
        OP.saturating_add(self.collection.saturating_mul(ELEMENT))
            .saturating_add(self.string / BYTES_PER_UNIT)
    }

    fn cost(&self, steps: &[Step]) -> u64 {
        let value = self.value_cost();
        let intern = self
            .interned
            .saturating_add(self.table)
            .saturating_mul(INTERN.saturating_add(self.string / BYTES_PER_UNIT));
        steps.iter().fold(0u64, |sum, step| {
            let cost = match step {
                Step::Push | Step::Op | Step::Union => value,
                Step::Add | Step::TypeOf => value.saturating_add(intern),
                Step::Regex => REGEX_COMPILE.saturating_add(self.string.saturating_mul(REGEX_BYTE)),
                Step::Closure { loops, body } => {
                    let runs = if *loops { self.collection } else { 1 };
                    let each = CLOSURE
                        .saturating_add((body.len() as u64).saturating_mul(OP))
                        .saturating_add(self.variables.saturating_mul(value))
                        .saturating_add(self.cost(body));
                    runs.saturating_mul(each)
                }
            };
            sum.saturating_add(cost)
        })
    }
}

/// Operations matching `wanted`, closure bodies included, each counted once.
fn count_static(steps: &[Step], wanted: &dyn Fn(&Step) -> bool) -> u64 {
    steps
        .iter()
        .map(|step| match step {
            Step::Closure { body, .. } => count_static(body, wanted),
            step => u64::from(wanted(step)),
        })
        .fold(0u64, u64::saturating_add)
}

/// Evaluations of interning operations, closure loops multiplied out.
fn count_dynamic(steps: &[Step], collection: u64) -> u64 {
    steps
        .iter()
        .map(|step| match step {
            Step::Add | Step::TypeOf => 1,
            Step::Closure { loops, body } => {
                let runs = if *loops { collection } else { 1 };
                runs.saturating_mul(count_dynamic(body, collection))
            }
            _ => 0,
        })
        .fold(0u64, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Caps;
    use crate::blocks::TokenBlocks;
    use biscuit_auth::{Biscuit, KeyPair};

    fn program(code: &str) -> Program {
        let token = Biscuit::builder()
            .code(code)
            .expect("code")
            .build(&KeyPair::new())
            .expect("build");
        let blocks = TokenBlocks::decode(&token.to_vec().expect("serialize")).expect("decode");
        Program::from_token(&blocks, &Caps::default()).expect("caps")
    }

    fn work(code: &str) -> WorkBound {
        bound(
            &[&program(code)],
            &[],
            &crate::policy::default_limits(),
            false,
        )
    }

    fn facts(name: &str, count: usize) -> String {
        (0..count).map(|i| format!("{name}({i}); ")).collect()
    }

    #[test]
    fn a_join_costs_at_least_the_product_of_its_fact_counts() {
        let two = work(&format!("{} h($x, $y) <- a($x), a($y);", facts("a", 10)));
        let three = work(&format!("{} h($x) <- a($x), a($y), a($z);", facts("a", 10)));
        // Two iterations (one that derives, one that finds nothing new).
        assert_eq!(two.iterations, 2);
        assert!(two.work >= 2 * 100 * BIND);
        assert!(three.work >= 2 * 1000 * BIND);
        assert!(three.work > 5 * two.work);
    }

    #[test]
    fn derived_facts_feed_later_joins() {
        // b has 10×10 facts at most, so the second rule joins 100 × 100.
        let chained = work(&format!(
            "{} b($x, $y) <- a($x), a($y); c($p, $q) <- b($p, $u), b($q, $v);",
            facts("a", 10)
        ));
        assert_eq!(chained.iterations, 3);
        assert!(chained.work >= 100 * 100 * BIND);
        // A head without variables derives one copy of its fact per origin
        // set: at most 4 for a token rule without scopes...
        let constant = work(&format!(
            "{} b(1) <- a($x), a($y); c($p) <- b($p), b($q);",
            facts("a", 10)
        ));
        assert!(constant.work < chained.work / 10);
        // ...but one per binding when scopes let it see any block.
        let scoped = work(&format!(
            "{} b(1) <- a($x), a($y) trusting previous; c($p) <- b($p), b($q);",
            facts("a", 10)
        ));
        assert!(scoped.work >= 100 * 100 * BIND);
    }

    #[test]
    fn recursion_counts_every_iteration_and_the_fact_ceiling() {
        let recursive =
            work("e(0, 1); e(1, 2); r($x, $y) <- e($x, $y); r($x, $z) <- r($x, $y), e($y, $z);");
        let limits = crate::policy::default_limits();
        assert_eq!(recursive.iterations, limits.max_iterations);
        // The derived predicate may reach the fact ceiling.
        assert!(recursive.work >= limits.max_iterations * limits.max_facts * BIND);
    }

    #[test]
    fn nested_closures_multiply_by_the_collection_size() {
        let array = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            format!("arr([{}]);", items.join(", "))
        };
        let once = work(&format!(
            "{} check if arr($a), $a.all($x -> $x >= 0);",
            array(32)
        ));
        let nested = work(&format!(
            "{} check if arr($a), $a.all($x -> $a.all($y -> $x >= $y));",
            array(32)
        ));
        assert!(nested.work >= 32 * 32 * OP);
        assert!(nested.work > 16 * once.work);
    }

    #[test]
    fn concatenation_pays_for_interning() {
        let long = "x".repeat(1000);
        let plain = work(&format!(r#"s("{long}"); check if s($s), $s.length() > 0;"#));
        let concatenated = work(&format!(
            r#"s("{long}"); check if s($s), ($s + $s + $s).length() > 0;"#
        ));
        assert!(concatenated.work > plain.work);
        assert!(concatenated.memory_bytes > plain.memory_bytes);
    }

    #[test]
    fn arithmetic_saturates() {
        let many = work(&format!(
            "{} h($a) <- a($a), a($b), a($c), a($d), a($e), a($f), a($g), a($h);",
            facts("a", 128)
        ));
        assert!(many.work >= u64::MAX / 2);
    }
}
