//! Node slots (`SlotStore`).

use chatserver::store::Store;

use crate::*;

conformance!(basics, slots_suite);

async fn slots_suite(s: &dyn Store) {
    let a = s.claim_slot("a", 1000, 500).await.unwrap().unwrap();
    let b = s.claim_slot("b", 1000, 500).await.unwrap().unwrap();
    assert_ne!(a, b);
    assert_eq!(
        s.claim_slot("a", 1100, 500).await.unwrap(),
        Some(a),
        "a node may reclaim its own"
    );
    assert!(s.renew_slot(a, "a", 1200, 500).await.unwrap());
    assert!(!s.renew_slot(a, "b", 1200, 500).await.unwrap());
    // b's lease ran out at 1500: a third node may take its slot.
    assert_eq!(s.claim_slot("c", 1600, 500).await.unwrap(), Some(b));
    assert!(!s.renew_slot(b, "b", 1600, 500).await.unwrap());
    s.release_slot(a, "a").await.unwrap();
    assert_eq!(s.claim_slot("d", 1600, 500).await.unwrap(), Some(a));
    let mut taken = vec![a, b];
    for n in 0..30 {
        taken.push(
            s.claim_slot(&format!("n{n}"), 1600, 500)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 32);
    assert_eq!(
        s.claim_slot("late", 1600, 500).await.unwrap(),
        None,
        "all 32 held"
    );
}
