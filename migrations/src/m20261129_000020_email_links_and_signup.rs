//! Sign-up and email verification. `password_resets` becomes `email_links`: every single-use
//! link we email (password reset, invitation, address verification, email change) with its
//! purpose and, for an email change, the address it confirms. Users get `email_verified_at`
//! (existing users with a password count as verified: an admin created them); orgs get their sign-up mode and
//! whether sign-in needs a verified address.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
}

#[derive(DeriveIden)]
enum EmailLinks {
    Table,
    Purpose,
    NewEmail,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    EmailVerifiedAt,
    CreatedAt,
    PasswordHash,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    SignupMode,
    RequireVerifiedEmail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .rename_table(
                Table::rename()
                    .table(PasswordResets::Table, EmailLinks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EmailLinks::Table)
                    .add_column(string_len(EmailLinks::Purpose, 20).default("password_reset"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EmailLinks::Table)
                    .add_column(string_len_null(EmailLinks::NewEmail, 320))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Users::Table)
                    .value(Users::EmailVerifiedAt, Expr::col(Users::CreatedAt))
                    // Invitees who never chose a password have not proved the address.
                    .and_where(Expr::col(Users::PasswordHash).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .add_column(string_len(Orgs::SignupMode, 20).default("off"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orgs::Table)
                    .add_column(boolean(Orgs::RequireVerifiedEmail).default(true))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Orgs::RequireVerifiedEmail, Orgs::SignupMode] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orgs::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerifiedAt)
                    .to_owned(),
            )
            .await?;
        // Only reset links may go back into `password_resets`: any other link would become a
        // working reset token.
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(EmailLinks::Table)
                    .and_where(Expr::col(EmailLinks::Purpose).ne("password_reset"))
                    .to_owned(),
            )
            .await?;
        for col in [EmailLinks::NewEmail, EmailLinks::Purpose] {
            manager
                .alter_table(
                    Table::alter()
                        .table(EmailLinks::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .rename_table(
                Table::rename()
                    .table(EmailLinks::Table, PasswordResets::Table)
                    .to_owned(),
            )
            .await
    }
}
