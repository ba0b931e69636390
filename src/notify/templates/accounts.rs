//! Message texts: Chinese first, with an English line. Subjects end with the English phrase
//! clients and tests look for.

use crate::notify::Message;

fn link(public_url: &str, path: &str, token: &str) -> String {
    format!(
        "{}/{}?token={}",
        public_url.trim_end_matches('/'),
        path,
        token
    )
}

pub fn verify_email(public_url: &str, to: &str, name: &str, token: &str) -> Message {
    let url = link(public_url, "verify-email", token);
    Message {
        to: to.into(),
        subject: "【landx 农村土地经营权流转】请验证您的邮箱 Verify your e-mail".into(),
        body: format!(
            "{name}，您好：\n\n感谢注册 landx 农村土地经营权流转交易平台。请在 48 小时内打开以下链接验证邮箱：\n{url}\n\n\
             Please verify your e-mail address by opening the link above.\n\n如非本人操作，请忽略本邮件。\n"
        ),
    }
}

pub fn password_reset(public_url: &str, to: &str, name: &str, token: &str) -> Message {
    let url = link(public_url, "reset-password", token);
    Message {
        to: to.into(),
        subject: "【landx 农村土地经营权流转】重置密码 Reset your password".into(),
        body: format!(
            "{name}，您好：\n\n我们收到了重置您 landx 账户密码的请求。请在 1 小时内打开以下链接设置新密码：\n{url}\n\n\
             To reset your password, open the link above. If you did not ask for this, ignore this e-mail.\n"
        ),
    }
}

pub fn invitation(public_url: &str, to: &str, name: &str, role_zh: &str, token: &str) -> Message {
    let url = link(public_url, "accept-invitation", token);
    Message {
        to: to.into(),
        subject: "【landx 农村土地经营权流转】设置您的密码 Set your password".into(),
        body: format!(
            "{name}，您好：\n\n平台管理员已为您开通 landx 账户（角色：{role_zh}）。请打开以下链接设置登录密码：\n{url}\n\n\
             An account has been created for you. Open the link above to set your password.\n"
        ),
    }
}

pub fn role_zh(role: crate::domain::roles::Role) -> &'static str {
    use crate::domain::roles::Role::*;
    match role {
        Admin => "平台管理员",
        Staff => "镇农村产权交易服务中心工作人员",
        Collective => "村集体经济组织",
        Investor => "受让方（经营主体）",
        Insurer => "保险机构",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_links() {
        let m = verify_email("http://x/", "a@b.cn", "张三", "TOKEN");
        assert!(m.subject.ends_with("Verify your e-mail"));
        assert!(m.body.contains("http://x/verify-email?token=TOKEN"));
        assert!(password_reset("http://x", "a@b.cn", "张三", "T")
            .subject
            .ends_with("Reset your password"));
        assert!(invitation("http://x", "a@b.cn", "张三", "平台管理员", "T")
            .body
            .contains("/accept-invitation?token=T"));
    }
}
