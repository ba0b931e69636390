//! The mails of accounts: e-mail verification, password reset, invitation. Chinese first,
//! with an English line; subjects end with the English phrase clients and tests look for.

use super::{greet, subject, Template};
use crate::domain::roles::Role;

fn link(public_url: &str, path: &str, token: &str) -> String {
    format!(
        "{}/{}?token={}",
        public_url.trim_end_matches('/'),
        path,
        token
    )
}

/// An investor registered: prove the address with the link.
pub struct VerifyEmail<'a> {
    pub public_url: &'a str,
    pub display_name: &'a str,
    pub token: &'a str,
}

impl Template for VerifyEmail<'_> {
    fn subject(&self) -> String {
        subject("请验证您的邮箱 Verify your e-mail")
    }

    fn body(&self) -> String {
        let (name, url) = (
            self.display_name,
            link(self.public_url, "verify-email", self.token),
        );
        greet(
            name,
            &format!(
                "感谢注册 landx 农村土地经营权流转交易平台。请在 48 小时内打开以下链接验证邮箱：\n{url}\n\n\
             Please verify your e-mail address by opening the link above.\n\n如非本人操作，请忽略本邮件。"
            ),
        )
    }
}

/// Somebody asked to reset the account's password.
pub struct PasswordReset<'a> {
    pub public_url: &'a str,
    pub display_name: &'a str,
    pub token: &'a str,
}

impl Template for PasswordReset<'_> {
    fn subject(&self) -> String {
        subject("重置密码 Reset your password")
    }

    fn body(&self) -> String {
        let (name, url) = (
            self.display_name,
            link(self.public_url, "reset-password", self.token),
        );
        greet(
            name,
            &format!(
                "我们收到了重置您 landx 账户密码的请求。请在 1 小时内打开以下链接设置新密码：\n{url}\n\n\
             To reset your password, open the link above. If you did not ask for this, ignore this e-mail."
            ),
        )
    }
}

/// An admin created an account without a password: the invitee sets one.
pub struct Invitation<'a> {
    pub public_url: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub token: &'a str,
}

impl Template for Invitation<'_> {
    fn subject(&self) -> String {
        subject("设置您的密码 Set your password")
    }

    fn body(&self) -> String {
        let (name, role_zh, url) = (
            self.display_name,
            role_zh(self.role),
            link(self.public_url, "accept-invitation", self.token),
        );
        greet(
            name,
            &format!(
                "平台管理员已为您开通 landx 账户（角色：{role_zh}）。请打开以下链接设置登录密码：\n{url}\n\n\
             An account has been created for you. Open the link above to set your password."
            ),
        )
    }
}

pub fn role_zh(role: Role) -> &'static str {
    match role {
        Role::Admin => "平台管理员",
        Role::Staff => "镇农村产权交易服务中心工作人员",
        Role::Collective => "村集体经济组织",
        Role::Investor => "受让方（经营主体）",
        Role::Insurer => "保险机构",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_links() {
        let m = VerifyEmail {
            public_url: "http://x/",
            display_name: "张三",
            token: "TOKEN",
        };
        assert!(m.subject().ends_with("Verify your e-mail"));
        assert!(m.body().contains("http://x/verify-email?token=TOKEN"));
        assert!(PasswordReset {
            public_url: "http://x",
            display_name: "张三",
            token: "T",
        }
        .subject()
        .ends_with("Reset your password"));
        assert!(Invitation {
            public_url: "http://x",
            display_name: "张三",
            role: Role::Admin,
            token: "T",
        }
        .body()
        .contains("/accept-invitation?token=T"));
    }
}
