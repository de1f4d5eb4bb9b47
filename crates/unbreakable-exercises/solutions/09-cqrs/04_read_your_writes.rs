// Exercise 09.4: read your own writes.
//
// What to do: a user changed a price; the write returned the event's outbox position.
// When the same user reloads the page, write `serve(write_position, projector_position)`:
// serve from the read model if it has already applied that event, else from the write
// side (one product, by primary key: correct, and cheap).
// Why it matters: projection lag is invisible to most readers but not to the one who just
// wrote; this is the usual cure, and it needs only the two positions.
// Chapter: 09-cqrs, "A price update, and the read model that has not seen it yet".
// Hint: the projector's position is the last event it applied. Is "equal" enough?

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    ReadModel,
    WriteSide,
}

pub fn serve(write_position: u64, projector_position: u64) -> Serve {
    if projector_position >= write_position { Serve::ReadModel } else { Serve::WriteSide }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::cqrs::{Projection, Projector};

    #[derive(Default)]
    struct Price(u64);
    impl Projection for Price {
        type Event = u64;
        fn apply(&mut self, e: &u64) {
            self.0 = *e;
        }
    }

    #[test]
    fn the_user_never_sees_their_change_undone() {
        let mut view = Projector::new(Price::default());
        view.deliver(1, &14_900);
        let written_at = 2; // the user's change to 12,900 is event 2
        assert_eq!(serve(written_at, view.position()), Serve::WriteSide);
        view.deliver(2, &12_900);
        assert_eq!(serve(written_at, view.position()), Serve::ReadModel);
        view.deliver(3, &11_900);
        assert_eq!(serve(written_at, view.position()), Serve::ReadModel);
        assert_eq!(serve(0, 0), Serve::ReadModel, "nothing written, nothing to wait for");
    }
}
