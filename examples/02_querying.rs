//! List queries: typed filters, ordering, paging and counts, served from the
//! cache after the first read and dropped only by writes that change them.
//!
//! ```text
//! cargo run --example 02_querying
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, Db, Thing};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "people")]
pub struct Person {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub name: String,
    pub age: i32,
    pub team: i64,
    pub bio: Option<String>,
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let db = Db::connect(&examples::database_url()).await?;
    examples::fresh_table::<Person>(&db).await?;
    let mut people: Vec<Person> = [
        ("Ann", 31, 1),
        ("Abe", 45, 2),
        ("Bob", 17, 1),
        ("Ada", 28, 1),
        ("Cid", 52, 2),
    ]
    .into_iter()
    .map(|(name, age, team)| Person {
        name: name.into(),
        age,
        team,
        ..Default::default()
    })
    .collect();
    Person::save_many(&db, &mut people).await?;

    let adults_named_a = Person::query()
        .filter(Person::AGE.ge(18) & Person::NAME.like("A%"))
        .order_by(Person::AGE.desc());
    let page = adults_named_a.fetch(&db, 0, 2).await?;
    println!("first page: {:?}", names(&page));
    println!("count: {}", adults_named_a.count(&db).await?);

    db.reset_stats();
    adults_named_a.fetch(&db, 0, 2).await?;
    println!(
        "again: {} SQL statements, {} list hit",
        db.stats().statements(),
        db.stats().query_hits
    );

    // A write to a row the query cannot see keeps the cached list...
    let mut bob = people[2].clone();
    bob.bio = Some("likes chess".into());
    bob.save(&db).await?;
    db.reset_stats();
    adults_named_a.fetch(&db, 0, 2).await?;
    println!(
        "after an unrelated write: {} list hit",
        db.stats().query_hits
    );

    // ...a write that changes its answer drops it.
    let mut ada = people[3].clone();
    ada.age = 60;
    ada.save(&db).await?;
    let page = adults_named_a.fetch(&db, 0, 2).await?;
    println!("after Ada's birthday(s): {:?}", names(&page));

    let team_one = Person::query()
        .filter(Person::TEAM.eq(1))
        .order_by(Person::NAME.asc());
    println!("team 1: {:?}", names(&team_one.all(&db).await?));
    let no_bio = Person::query().filter(Person::BIO.is_null() & !Person::TEAM.is_in([2]));
    println!("team 1 without a bio: {:?}", names(&no_bio.all(&db).await?));
    Ok(())
}

fn names(people: &[Person]) -> Vec<&str> {
    people.iter().map(|person| person.name.as_str()).collect()
}
