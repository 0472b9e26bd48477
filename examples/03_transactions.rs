//! Transactions: commit on `Ok`, roll back on `Err`; reads inside see the
//! transaction's own writes, and the cache changes only after a commit.
//!
//! ```text
//! cargo run --example 03_transactions
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, Db, Error, Thing};

#[derive(Thing, Debug, Clone, Default)]
pub struct Account {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub owner: String,
    pub balance: i64,
}

/// Moves `amount` from one account to another, all or nothing.
async fn transfer(db: &Db, from: i64, to: i64, amount: i64) -> thing::Result<()> {
    db.transaction(async |tx| {
        let mut source = Account::by_id(tx, from).await?;
        let mut target = Account::by_id(tx, to).await?;
        if source.balance < amount {
            return Err(Error::custom(format!(
                "{} has {} and cannot send {amount}",
                source.owner, source.balance
            )));
        }
        source.balance -= amount;
        target.balance += amount;
        source.save(tx).await?;
        target.save(tx).await?;
        Ok(())
    })
    .await
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let db = Db::connect(&examples::database_url()).await?;
    examples::fresh_table::<Account>(&db).await?;
    let mut accounts = vec![
        Account {
            owner: "ann".into(),
            balance: 100,
            ..Default::default()
        },
        Account {
            owner: "bob".into(),
            balance: 20,
            ..Default::default()
        },
    ];
    Account::save_many(&db, &mut accounts).await?;
    let (ann, bob) = (accounts[0].base.id, accounts[1].base.id);

    transfer(&db, ann, bob, 30).await?;
    println!(
        "after 30 from ann: ann {}, bob {}",
        Account::by_id(&db, ann).await?.balance,
        Account::by_id(&db, bob).await?.balance
    );

    match transfer(&db, bob, ann, 500).await {
        Err(Error::Custom(why)) => println!("refused and rolled back: {why}"),
        other => println!("unexpected: {other:?}"),
    }
    println!(
        "unchanged: ann {}, bob {}",
        Account::by_id(&db, ann).await?.balance,
        Account::by_id(&db, bob).await?.balance
    );

    // Manual control: begin, write, roll back.
    let tx = db.begin().await?;
    let mut cid = Account {
        owner: "cid".into(),
        balance: 5,
        ..Default::default()
    };
    cid.save(&tx).await?;
    tx.rollback().await?;
    println!(
        "cid after rollback: {:?}",
        Account::by_id(&db, cid.base.id).await.map(|a| a.owner)
    );
    Ok(())
}
