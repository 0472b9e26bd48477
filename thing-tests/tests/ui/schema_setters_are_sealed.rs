//! `Schema`'s hidden setters are Thing's own: user code, generic or not,
//! cannot change a model's id, base, version or snapshot behind its back.
use thing::{BaseModel, Schema, Thing};

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(version)]
    version: i64,
    email: String,
}

fn forge<T: Thing>(row: &mut T) {
    row.set_id(7);
    let _ = row.base_mut();
    let _ = row.version_mut();
    let _ = row.snapshot_mut();
}

fn main() {
    let mut user = User::default();
    Schema::set_id(&mut user, 7);
    let _forged = thing::__private::Sealed(());
    forge(&mut user);
}
