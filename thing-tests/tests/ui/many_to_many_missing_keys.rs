use thing::{BaseModel, ManyToMany, Thing};

#[derive(Thing, Default)]
struct Role {
    #[thing(base)]
    base: BaseModel,
}

#[derive(Thing, Default)]
struct User {
    #[thing(base)]
    base: BaseModel,
    #[thing(many_to_many(Role, fk = "user_id"))]
    roles: ManyToMany<Role>,
    #[thing(many_to_many(Role, join = "user_roles", fk = "user_id", other_fk = "user_id"))]
    more_roles: ManyToMany<Role>,
}

fn main() {}
