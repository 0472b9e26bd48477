use thing::{BaseModel, BoxError, Executor, Hooks, Thing};

#[derive(Thing, Default)]
struct Account {
    #[thing(base)]
    base: BaseModel,
    email: String,
}

impl Hooks for Account {
    async fn before_save(&mut self, _: &dyn Executor) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {}
