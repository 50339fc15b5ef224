//! `/auth`: signup and its confirmation, accepting an invitation, login (JSON or OAuth2
//! password form), refresh, logout, me.

use poem_openapi::{
    ApiRequest, ApiResponse, Object, OpenApi, Tags,
    payload::{Form, Json},
};
use uuid::Uuid;

use super::{MODULE, store};
use crate::modules::identity::messages;
use crate::platform::{
    auth::{Auth, HashingFor, check_password, password_too_long},
    contract::Body,
    db::{Acceptance, SignUpRequest},
    error::{ApiError, problems},
    limits::client_ip,
    state::SharedState,
    tenancy::{Role, TenantContext},
    validation::Fields,
};

#[derive(Tags)]
enum AuthTags {
    /// Sign up, log in, refresh and log out.
    Auth,
}

/// Asks for a tenant with its first user (the owner); created once the email confirms.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
struct SignUpBody {
    /// The organisation's display name, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    tenant_name: String,
    /// The owner's email; used to log in.
    #[oai(validator(
        min_length = 3,
        max_length = 320,
        pattern = r"^\s*[^\s@\x00-\x1F\x7F-\x9F]+@[^\s.\x00-\x1F\x7F-\x9F][^\s\x00-\x1F\x7F-\x9F]*\.[^\s\x00-\x1F\x7F-\x9F]*\s*$"
    ))]
    email: String,
    /// 10 to 1024 characters.
    #[oai(validator(min_length = 10, max_length = 1024))]
    password: String,
    /// The owner's name, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    full_name: String,
}

/// What signup answers, for every email alike.
#[derive(Object)]
struct SignUpRequested {
    /// Always `confirmation_sent`.
    status: String,
    /// What to do next.
    detail: String,
}

/// The link of a signup confirmation.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
struct ConfirmBody {
    /// The token from the confirmation message.
    #[oai(validator(max_length = 200))]
    token: String,
}

/// The link of an invitation, and what a new (or never verified) identity needs.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
struct AcceptBody {
    /// The token from the invitation message.
    #[oai(validator(max_length = 300))]
    token: String,
    /// Your name, for a new account, 1 to 200 characters (default: the part of the
    /// email before `@`).
    #[oai(validator(min_length = 1, max_length = 200))]
    full_name: Option<String>,
    /// 10 to 1024 characters. Required unless the email already has a verified account
    /// (then it is ignored); it replaces the password of an account whose email was
    /// never verified, and ends that account's earlier sessions.
    #[oai(validator(min_length = 10, max_length = 1024))]
    password: Option<String>,
}

impl poem_openapi::types::Example for ConfirmBody {
    fn example() -> Self {
        Self {
            token: "0190c6a1-7d2e-7c3a-9b1f-2e4d6a8c0b1e.4f9d2c7a1e6b3f8d0c5a9e2b7d4f1a6c".into(),
        }
    }
}

impl poem_openapi::types::Example for AcceptBody {
    fn example() -> Self {
        Self {
            token: "0190c6a1-0000-7000-8000-000000000001.0190c6a1-7d2e-7c3a-9b1f-2e4d6a8c0b1e.4f9d2c7a1e6b3f8d0c5a9e2b7d4f1a6c".into(),
            full_name: Some("Bea Jones".into()),
            password: Some("another good passphrase".into()),
        }
    }
}

/// JSON login.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
struct LoginBody {
    /// The email address the user signed up or was added with.
    email: String,
    /// The user's password.
    password: String,
    /// The tenant to log in to; required only when the user belongs to several.
    tenant: Option<Uuid>,
}

/// OAuth2 password-grant login (what the docs' Authorize button sends).
#[derive(Object, serde::Deserialize)]
#[oai(skip_serializing_if_is_none, example)]
struct LoginForm {
    /// The email address.
    username: String,
    /// The user's password.
    password: String,
    /// Optional tenant id, for users of several tenants.
    tenant: Option<Uuid>,
}

#[derive(ApiRequest)]
enum LoginRequest {
    Json(Body<LoginBody>),
    Form(Form<LoginForm>),
}

/// A refresh token to use or to revoke.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, example)]
struct RefreshBody {
    /// The refresh token from the last login or refresh; it can be used once.
    refresh_token: String,
}

/// A fresh pair of tokens.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
struct Tokens {
    /// Send as `Authorization: Bearer <access_token>`.
    access_token: String,
    /// Always `bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Exchange at `/auth/refresh` for a new pair; single use.
    refresh_token: String,
}

/// The caller: user, tenant and role.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
struct MeBody {
    /// The caller's user id.
    user_id: Uuid,
    /// The email address the caller logs in with.
    email: String,
    /// The caller's name.
    full_name: String,
    /// The tenant the access token is for.
    tenant_id: Uuid,
    /// That tenant's display name.
    tenant_name: String,
    /// The caller's role in that tenant.
    role: Role,
}

#[derive(ApiResponse)]
enum SignUpResponse {
    /// A message is on its way to the address: a confirmation link, or for an address
    /// that already has an account, a notice. Nothing exists yet.
    #[oai(status = 202)]
    Accepted(Json<SignUpRequested>),
}

#[derive(ApiResponse)]
enum ConfirmResponse {
    /// The tenant and its owner exist; here are the owner's tokens.
    #[oai(status = 201)]
    Created(Json<Tokens>),
}

#[derive(ApiResponse)]
enum TokenResponse {
    #[oai(status = 200)]
    Ok(Json<Tokens>),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// The refresh token's family is revoked.
    #[oai(status = 204)]
    LoggedOut,
}

#[derive(ApiResponse)]
enum MeResponse {
    #[oai(status = 200)]
    Ok(Json<MeBody>),
}

pub struct AuthApi {
    state: SharedState,
}

impl AuthApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// Starts a session (a new refresh-token family) for a membership just vouched for.
    async fn tokens_for(&self, context: TenantContext) -> Result<Tokens, ApiError> {
        let tx = self.state.db.tx(context, &MODULE).await?;
        let session = store::start_session(tx, self.refresh_lifetime()).await?;
        self.pair(context, session.refresh_token, session.id)
    }

    fn pair(
        &self,
        context: TenantContext,
        refresh_token: String,
        session: Uuid,
    ) -> Result<Tokens, ApiError> {
        Ok(Tokens {
            access_token: self.state.jwt.issue(context, session)?,
            token_type: "bearer".to_owned(),
            expires_in: self.state.jwt.access_ttl().as_secs(),
            refresh_token,
        })
    }

    fn refresh_lifetime(&self) -> i64 {
        i64::try_from(self.state.refresh_ttl.as_secs()).unwrap_or(i64::MAX)
    }

    /// Checks the password, throttled: after too many failures from this client IP, or
    /// for this email from this IP, answers 429 without looking; after too many for
    /// this email from anywhere, the answer is delayed (never refused), so an attacker
    /// cannot lock the owner of the email out.
    async fn login(
        &self,
        client_ip: &str,
        email: &str,
        password: String,
        tenant: Option<Uuid>,
    ) -> Result<Tokens, ApiError> {
        let limits = &self.state.limits;
        if let Some(retry_after) = limits.login_blocked(client_ip, email).await {
            self.state
                .metrics
                .rate_limited
                .with_label_values(&[limits.login_failures.name])
                .inc();
            return Err(ApiError::TooManyRequests(retry_after));
        }
        let delay = limits.login_delay(email).await;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let invalid = || ApiError::Unauthorized("The email or password is wrong.");
        let verified = if password_too_long(&password) {
            None
        } else {
            let candidates = self
                .state
                .db
                .pre_tenant()
                .login_candidates(email.trim())
                .await?;
            let hash = candidates.first().map(|c| c.password_hash.clone());
            self.state
                .hasher
                .verify(password, hash, &HashingFor::Client(client_ip.to_owned()))
                .await?
                .then_some(candidates)
        };
        let Some(candidates) = verified else {
            self.state.metrics.login_failures.inc();
            limits.login_failed(client_ip, email).await;
            return Err(invalid());
        };
        let chosen = match tenant {
            Some(tenant) => candidates
                .iter()
                .find(|c| c.context.tenant_id() == tenant)
                .ok_or_else(invalid)?,
            None if candidates.len() == 1 => &candidates[0],
            None => {
                let choices: Vec<String> = candidates
                    .iter()
                    .map(|c| format!("{} ({})", c.context.tenant_id(), c.tenant_name))
                    .collect();
                return Err(ApiError::invalid(
                    "tenant",
                    format!("choose one of: {}", choices.join(", ")),
                ));
            }
        };
        self.tokens_for(chosen.context).await
    }
}

#[OpenApi(prefix_path = "/auth", tag = "AuthTags::Auth")]
impl AuthApi {
    /// Sign up: ask for a tenant and its owner
    ///
    /// Creates nothing: sends a confirmation link to the email (see
    /// `/auth/signup/confirm`), or, when the email already has an account, a notice
    /// instead. The answer is the same either way, so it says nothing about the email.
    #[oai(path = "/signup", method = "post", operation_id = "signUp")]
    async fn signup(
        &self,
        req: &poem::Request,
        body: Body<SignUpBody>,
    ) -> Result<SignUpResponse, problems::SignUp> {
        let body = body.into_inner()?;
        let mut fields = Fields::new();
        let tenant_name = fields.text("tenant_name", &body.tenant_name, 1, 200);
        let email = fields.email("email", &body.email);
        let full_name = fields.text("full_name", &body.full_name, 1, 200);
        check_password(&mut fields, &body.password);
        fields.finish()?;

        // Hashed for every email, known or not, so the answer takes the same time.
        let caller = HashingFor::Client(client_ip(req, self.state.limits.trusted_proxy_hops));
        let password_hash = self.state.hasher.hash(body.password, &caller).await?;
        let confirmation = messages::signup_confirmation(&self.state.public_url);
        let known = messages::signup_known(&self.state.public_url);
        self.state
            .db
            .pre_tenant()
            .request_signup(&SignUpRequest {
                email: &email,
                tenant_name: &tenant_name,
                full_name: &full_name,
                password_hash: &password_hash,
                confirmation: confirmation.as_mail_text(),
                known: known.as_mail_text(),
            })
            .await?;
        Ok(SignUpResponse::Accepted(Json(SignUpRequested {
            status: "confirmation_sent".to_owned(),
            detail: "Check your mailbox: the message there says how to go on.".to_owned(),
        })))
    }

    /// Confirm a signup: create the tenant and its owner
    ///
    /// The token from the confirmation message; it works once. Answers the owner's
    /// tokens, or 401 for an invalid, used or expired token.
    #[oai(
        path = "/signup/confirm",
        method = "post",
        operation_id = "confirmSignUp"
    )]
    async fn confirm_signup(
        &self,
        body: Body<ConfirmBody>,
    ) -> Result<ConfirmResponse, problems::Session> {
        let context = self
            .state
            .db
            .pre_tenant()
            .confirm_signup(&body.into_inner()?.token)
            .await?
            .ok_or(ApiError::Unauthorized(
                "The confirmation link is invalid, expired or already used.",
            ))?;
        Ok(ConfirmResponse::Created(Json(
            self.tokens_for(context).await?,
        )))
    }

    /// Accept an invitation: join its tenant
    ///
    /// The token from the invitation message proves the email; no bearer token. A new
    /// account, or one whose email was never verified, needs `password` (422 naming it
    /// otherwise); a never-verified account's password is replaced and its earlier
    /// sessions end. Answers tokens for the new membership; 409 when already a member;
    /// 401 for an invalid, used, revoked or expired link.
    #[oai(
        path = "/invitations/accept",
        method = "post",
        operation_id = "acceptInvitation"
    )]
    async fn accept_invitation(
        &self,
        req: &poem::Request,
        body: Body<AcceptBody>,
    ) -> Result<TokenResponse, problems::Accept> {
        let body = body.into_inner()?;
        let mut fields = Fields::new();
        let full_name = fields.optional_text("full_name", body.full_name.as_deref(), 200);
        if let Some(password) = &body.password {
            check_password(&mut fields, password);
        }
        fields.finish()?;
        let AcceptBody {
            token, password, ..
        } = body;
        let password_hash = match password {
            Some(password) => {
                let caller =
                    HashingFor::Client(client_ip(req, self.state.limits.trusted_proxy_hops));
                Some(self.state.hasher.hash(password, &caller).await?)
            }
            None => None,
        };
        let acceptance = self
            .state
            .db
            .pre_tenant()
            .accept_invitation(&token, full_name.as_deref(), password_hash.as_deref())
            .await?;
        match acceptance {
            Acceptance::Joined(context) => {
                Ok(TokenResponse::Ok(Json(self.tokens_for(context).await?)))
            }
            Acceptance::PasswordRequired => Err(ApiError::invalid(
                "password",
                "choose a password: this email has no verified account yet",
            )
            .into()),
            Acceptance::AlreadyMember => Err(ApiError::Conflict(
                "You are already a member of this tenant.".to_owned(),
            )
            .into()),
            Acceptance::Invalid => Err(ApiError::Unauthorized(
                "The invitation link is invalid, expired or already used.",
            )
            .into()),
        }
    }

    /// Log in
    ///
    /// Accepts JSON `{email, password, tenant?}` or the OAuth2 password form
    /// (`username`, `password`). Unknown emails and wrong passwords answer alike.
    #[oai(path = "/login", method = "post", operation_id = "logIn")]
    async fn login_endpoint(
        &self,
        req: &poem::Request,
        request: LoginRequest,
    ) -> Result<TokenResponse, problems::LogIn> {
        let ip = client_ip(req, self.state.limits.trusted_proxy_hops);
        let tokens = match request {
            LoginRequest::Json(body) => {
                let body = body.into_inner()?;
                self.login(&ip, &body.email, body.password, body.tenant)
                    .await?
            }
            LoginRequest::Form(Form(form)) => {
                self.login(&ip, &form.username, form.password, form.tenant)
                    .await?
            }
        };
        Ok(TokenResponse::Ok(Json(tokens)))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// Each refresh token works once. Presenting one that was already used revokes
    /// every token of that login, and so does a deactivated membership or tenant.
    #[oai(path = "/refresh", method = "post", operation_id = "refreshTokens")]
    async fn refresh(&self, body: Body<RefreshBody>) -> Result<TokenResponse, problems::Session> {
        let presented = body.into_inner()?.refresh_token;
        let (context, next) = self
            .state
            .db
            .pre_tenant()
            .rotate_refresh_token(&presented)
            .await?
            .ok_or(ApiError::Unauthorized(
                "The refresh token is invalid, expired or already used.",
            ))?;
        let session = context
            .session()
            .ok_or_else(|| ApiError::internal("a rotated refresh token names no family"))?;
        Ok(TokenResponse::Ok(Json(self.pair(context, next, session)?)))
    }

    /// Log out: end the session
    ///
    /// Revokes the refresh token, every token rotated from it, and the session of the
    /// access token presented: that access token stops working at once.
    #[oai(path = "/logout", method = "post", operation_id = "logOut")]
    async fn logout(
        &self,
        auth: Auth,
        body: Body<RefreshBody>,
    ) -> Result<LogoutResponse, problems::Session> {
        let presented = body.into_inner()?.refresh_token;
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        store::end_session(tx, &presented).await?;
        Ok(LogoutResponse::LoggedOut)
    }

    /// Who am I?
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, auth: Auth) -> Result<MeResponse, problems::ReadOne> {
        let context = auth.context();
        let me = store::me(self.state.db.tx(context, &MODULE).await?)
            .await?
            .ok_or(ApiError::Unauthorized(
                "This membership is no longer active.",
            ))?;
        Ok(MeResponse::Ok(Json(MeBody {
            user_id: context.user_id(),
            email: me.email,
            full_name: me.full_name,
            tenant_id: context.tenant_id(),
            tenant_name: me.tenant_name,
            role: me.role,
        })))
    }
}

impl poem_openapi::types::Example for SignUpBody {
    fn example() -> Self {
        Self {
            tenant_name: "Acme".into(),
            email: "ann@acme.example".into(),
            password: "correct horse battery staple".into(),
            full_name: "Ann Smith".into(),
        }
    }
}

impl poem_openapi::types::Example for LoginBody {
    fn example() -> Self {
        Self {
            email: "ann@acme.example".into(),
            password: "correct horse battery staple".into(),
            tenant: None,
        }
    }
}

impl poem_openapi::types::Example for LoginForm {
    fn example() -> Self {
        Self {
            username: "ann@acme.example".into(),
            password: "correct horse battery staple".into(),
            tenant: None,
        }
    }
}

impl poem_openapi::types::Example for RefreshBody {
    fn example() -> Self {
        Self {
            refresh_token: "the refresh_token of the last login or refresh".into(),
        }
    }
}
