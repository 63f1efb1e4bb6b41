//! Values derived from the model that the view reads on every frame (Kong's strategy choice,
//! Review's facts, the rolling order, the failed up's account): each is kept with the inputs it
//! was made from and made again only when they change, so a frame reads them instead of
//! recomputing them (the Strategy screen computed `kong::strategy::choose` four times a frame).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// One derived value and the inputs it was made from.
pub struct Memo<K, V> {
    slot: RefCell<Option<(K, Arc<V>)>>,
    made: Cell<u32>,
}

impl<K, V> Memo<K, V> {
    /// The value for inputs that `same` recognises, else `make`'s (inputs and value), kept.
    pub fn get(&self, same: impl FnOnce(&K) -> bool, make: impl FnOnce() -> (K, V)) -> Arc<V> {
        if let Some((k, v)) = &*self.slot.borrow() {
            if same(k) {
                return Arc::clone(v);
            }
        }
        // Made outside the borrow: `make` may read other memos of the model.
        let (k, v) = make();
        let v = Arc::new(v);
        *self.slot.borrow_mut() = Some((k, Arc::clone(&v)));
        self.made.set(self.made.get() + 1);
        v
    }

    /// How many times the value was made (tests: a frame must not make it again).
    pub fn made(&self) -> u32 {
        self.made.get()
    }
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            slot: RefCell::new(None),
            made: Cell::new(0),
        }
    }
}

// A copy of the model makes its values afresh.
impl<K, V> Clone for Memo<K, V> {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl<K, V> std::fmt::Debug for Memo<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo(made {})", self.made.get())
    }
}

/// The model's derived values.
#[derive(Clone, Debug, Default)]
pub struct Memos {
    /// `kong::strategy::choose`, by its input.
    pub choice: Memo<ChoiceKey, crate::kong::strategy::Choice>,
    /// Review's facts of each coming migration, by the reading, the target and the rehearsal
    /// (its staleness marks the measured times).
    pub reviews: Memo<ReviewKey, Vec<super::review::MigrationReview>>,
    /// `plan --strategy rolling`'s text, by the data planes and the target.
    pub rolling: Memo<RollingKey, String>,
    /// The failed up's account, by the run, its log and the state it is checked against.
    pub failed_up: Memo<FailedKey, Option<super::failed::FailedUp>>,
}

type Version = crate::kong::version::Version;

pub type ChoiceKey = (
    crate::kong::strategy::Deployment,
    Option<Version>,
    Option<Version>,
    Vec<crate::kong::strategy::OldNode>,
    Option<bool>,
);

pub type ReviewKey = (
    Option<crate::kong::state::SchemaState>,
    Option<Vec<(String, i64)>>,
    Vec<crate::kong::diagnose::HeavyWork>,
    Option<Version>,
    Option<super::review::Rehearsal>,
);

pub type RollingKey = (Vec<crate::kong::snapshot::DataPlaneRow>, Option<Version>);

pub type FailedKey = (
    Option<super::model::Outcome>,
    Option<crate::contract::RunId>,
    usize,
    Option<String>,
    Option<crate::kong::state::SchemaState>,
    Option<String>,
);

#[cfg(test)]
mod tests {
    use super::Memo;

    #[test]
    fn a_value_is_made_again_only_when_its_inputs_change() {
        let m: Memo<u32, String> = Memo::default();
        let make = |k: u32| move || (k, format!("made from {k}"));
        assert_eq!(*m.get(|k| *k == 1, make(1)), "made from 1");
        assert_eq!(*m.get(|k| *k == 1, make(1)), "made from 1");
        assert_eq!(m.made(), 1, "same inputs: kept");
        assert_eq!(*m.get(|k| *k == 2, make(2)), "made from 2");
        assert_eq!(m.made(), 2, "new inputs: made again");
        assert_eq!(m.clone().made(), 0, "a copy makes its own");
    }
}
