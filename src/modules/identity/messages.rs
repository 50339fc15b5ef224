//! The texts of identity's mail. Each carries `{token}`, which the database replaces
//! with the link's secret when it queues the message (the server never sees a secret).

use crate::platform::{db::MailText, tenancy::Role};

/// A message whose token the database writes in.
pub struct Message {
    pub subject: &'static str,
    pub text: String,
}

impl Message {
    /// The form the pre-tenant door takes.
    pub fn as_mail_text(&self) -> MailText<'_> {
        MailText {
            subject: self.subject,
            text: &self.text,
        }
    }
}

/// To an address without an account: the link that creates the tenant.
pub fn signup_confirmation(public_url: &str) -> Message {
    Message {
        subject: "Confirm your email to create your CRM account",
        text: format!(
            "Someone, hopefully you, asked to create a CRM account with this address.\n\n\
             To confirm, open {public_url}/signup/confirm?token={{token}}\n\
             or send POST {public_url}/api/v1/auth/signup/confirm with \
             {{\"token\": \"{{token}}\"}}.\n\n\
             The link works once, for 24 hours. If it was not you, ignore this message: \
             nothing has been created."
        ),
    }
}

/// To an address that already has an account, instead of a link: nobody can tell from
/// the answer to signup which of the two was sent.
pub fn signup_known(public_url: &str) -> Message {
    Message {
        subject: "You already have a CRM account",
        text: format!(
            "Someone, hopefully you, tried to sign up for CRM with this address, which \
             already has an account. Nothing has been created or changed.\n\n\
             Log in at {public_url}/api/v1/auth/login, or ask a tenant's owner or admin \
             for an invitation to join their tenant. If it was not you, ignore this \
             message."
        ),
    }
}

/// An invitation to join a tenant with `role`.
pub fn invitation(public_url: &str, role: Role) -> Message {
    Message {
        subject: "You are invited to a CRM tenant",
        text: format!(
            "You have been invited to join a tenant on CRM as {role}.\n\n\
             To accept, open {public_url}/invitations/accept?token={{token}}\n\
             or send POST {public_url}/api/v1/auth/invitations/accept with \
             {{\"token\": \"{{token}}\", \"password\": \"...\"}} (a password is needed \
             unless you already have a verified account).\n\n\
             The link works once, for 7 days. If you do not expect it, ignore this \
             message: nothing happens unless you accept.",
            role = role.as_str()
        ),
    }
}
