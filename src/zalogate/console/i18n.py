"""The console's words in Vietnamese and English (templates call ``t("key")``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["LANGUAGES", "pick_language", "translator"]

LANGUAGES = ("vi", "en")

_WORDS: Mapping[str, tuple[str, str]] = {
    # key: (vi, en)
    "title": ("Bảng điều khiển zalogate", "zalogate console"),
    "overview": ("Tổng quan", "Overview"),
    "pairing": ("Ghép đôi", "Pairing"),
    "conversations": ("Hội thoại", "Conversations"),
    "inbox": ("Hộp thư đến", "Inbox"),
    "logs": ("Nhật ký", "Logs"),
    "logout": ("Đăng xuất", "Log out"),
    "accounts": ("Tài khoản", "Accounts"),
    "account": ("Tài khoản", "Account"),
    "channel": ("Kênh", "Channel"),
    "state": ("Trạng thái", "State"),
    "mode": ("Chế độ", "Mode"),
    "last_inbound": ("Nhận gần nhất", "Last inbound"),
    "last_outbound": ("Gửi gần nhất", "Last outbound"),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "dead_letters": ("Thư chết", "Dead letters"),
    "restart": ("Khởi động lại", "Restart"),
    "stop": ("Dừng", "Stop"),
    "qr_login": ("Đăng nhập", "Log in"),
    "login_again": ("Đăng nhập lại", "Log in again"),
    "qr_logout": ("Đăng xuất Zalo", "Log out of Zalo"),
    "no_accounts": ("Chưa có tài khoản nào đang chạy.", "No account is running."),
    "replace_session": ("Thay phiên đăng nhập hiện có", "Replace the current session"),
    "start_login": ("Bắt đầu đăng nhập", "Start the login"),
    "qr_help": (
        "Mở Zalo trên điện thoại, quét mã QR rồi xác nhận đăng nhập.",
        "Open Zalo on your phone, scan the QR code, then confirm the login.",
    ),
    "link_help": (
        "Mở liên kết bằng tài khoản quản trị, cho phép truy cập; trang này tự cập nhật.",
        "Open the link as the admin and allow access; this page follows on its own.",
    ),
    "open_link": ("Mở trang cấp quyền", "Open the consent page"),
    "step_starting": ("Đang bắt đầu đăng nhập…", "Starting the login…"),
    "step_link": ("Đang chờ cấp quyền", "Waiting for the consent"),
    "step_qr": ("Đang chờ quét mã", "Waiting for the scan"),
    "step_scanned": ("Đã quét, chờ xác nhận trên điện thoại", "Scanned; confirm on the phone"),
    "step_confirmed": ("Đã xác nhận, đang hoàn tất…", "Confirmed; finishing…"),
    "step_declined": ("Đăng nhập bị từ chối trên điện thoại", "The login was declined"),
    "step_expired": ("Mã QR đã hết hạn", "The QR code expired"),
    "step_done": ("Đăng nhập thành công", "Logged in"),
    "step_failed": ("Đăng nhập thất bại", "The login failed"),
    "pending_requests": ("Yêu cầu đang chờ", "Pending requests"),
    "no_pending": ("Không có yêu cầu nào.", "No pending request."),
    "sender": ("Người gửi", "Sender"),
    "code": ("Mã", "Code"),
    "requested": ("Yêu cầu lúc", "Requested"),
    "approve": ("Chấp nhận", "Approve"),
    "reject": ("Từ chối", "Reject"),
    "notify": ("Báo cho người gửi", "Tell the sender"),
    "allowlists": ("Danh sách cho phép", "Allowlists"),
    "allow_store": ("Đã ghép đôi (cho phép nhắn riêng)", "Paired senders (DM allowed)"),
    "config_allow": ("Trong tệp cấu hình", "In the config file"),
    "add": ("Thêm", "Add"),
    "remove": ("Xoá", "Remove"),
    "user_id": ("ID người dùng", "User id"),
    "group_id": ("ID nhóm", "Group id"),
    "from_config": ("từ tệp cấu hình", "from config"),
    "removed_here": ("đã bỏ tại đây", "removed here"),
    "added_here": ("thêm tại đây", "added here"),
    "restore": ("Khôi phục", "Restore"),
    "list_unset": ("(chưa đặt trong cấu hình)", "(not set in the config)"),
    "allowlists_help": (
        "Thay đổi có hiệu lực ngay, không cần khởi động lại, và không sửa tệp cấu hình: mục"
        " từ tệp cấu hình chỉ bị ẩn (Khôi phục để dùng lại).",
        "Changes apply at the next message, without a restart, and never rewrite the config"
        " file: removing a config entry hides it here (Restore brings it back).",
    ),
    "no_conversations": ("Chưa có hội thoại nào.", "No conversation yet."),
    "paused": ("Đang tiếp quản", "Taken over"),
    "agent_on": ("Trợ lý đang trả lời", "Agent answering"),
    "take_over": ("Tiếp quản", "Take over"),
    "resume": ("Trả lại cho trợ lý", "Resume the agent"),
    "reply": ("Trả lời", "Reply"),
    "send": ("Gửi", "Send"),
    "type_reply": ("Nhập câu trả lời…", "Type a reply…"),
    "transcript": ("Nội dung", "Transcript"),
    "paused_note": (
        "Trợ lý đã tạm dừng: tin nhắn được ghi lại, bạn trả lời thay.",
        "The agent is paused: messages are recorded and you answer them.",
    ),
    "pending": ("Đang chờ xử lý", "Pending"),
    "dead": ("Thư chết", "Dead letters"),
    "retry": ("Thử lại", "Retry"),
    "retry_all": ("Thử lại tất cả", "Retry all"),
    "prune": ("Dọn dẹp", "Prune"),
    "prune_days": ("Xoá mục cũ hơn (ngày)", "Delete entries older than (days)"),
    "empty": ("Trống.", "Empty."),
    "attempts": ("Số lần thử", "Attempts"),
    "error": ("Lỗi", "Error"),
    "message": ("Tin nhắn", "Message"),
    "live_tail": ("Theo dõi trực tiếp (đã che thông tin bí mật)", "Live tail (secrets redacted)"),
    "login_title": ("Đăng nhập bảng điều khiển", "Console login"),
    "login_help": (
        "Chạy `zalogate console` trên máy chạy gateway để lấy liên kết đăng nhập dùng một lần.",
        "Run `zalogate console` on the gateway's machine for a one-time login link.",
    ),
    "password": ("Mật khẩu vận hành", "Operator password"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "link_invalid": (
        "Liên kết đăng nhập không hợp lệ, đã dùng hoặc đã hết hạn.",
        "The login link is invalid, used or expired.",
    ),
    "link_used": (
        "Liên kết đăng nhập này đã được dùng; chạy `zalogate console` để lấy liên kết mới.",
        "This login link was already used; run `zalogate console` for a new one.",
    ),
    "language": ("English", "Tiếng Việt"),
    "never": ("chưa", "never"),
    "pick_contact": ("Chọn từ danh bạ", "Pick from the directory"),
    "operator": ("Người vận hành", "Operator"),
    "state_starting": ("đang khởi động", "starting"),
    "state_running": ("đang chạy", "running"),
    "state_backoff": ("chờ thử lại", "backoff"),
    "state_unauthorized": ("chưa đăng nhập", "unauthorized"),
    "state_standby": ("chờ (nút khác chạy)", "standby"),
    "state_failed": ("lỗi", "failed"),
    "state_stopped": ("đã dừng", "stopped"),
    # the Cluster page (console/cluster_page.py)
    "cluster": ("Cụm", "Cluster"),
    "cluster_off": (
        "Gateway chạy một nút (chưa cấu hình gateway.cluster).",
        "The gateway runs as a single node (gateway.cluster is not set).",
    ),
    "cluster_unreachable": ("Không đọc được trạng thái cụm", "Cannot read the cluster's state"),
    "cluster_prefix": ("Tiền tố", "Prefix"),
    "cluster_nodes": ("Các nút", "Nodes"),
    "cluster_node": ("Nút", "Node"),
    "cluster_this_node": ("nút này", "this node"),
    "cluster_leases": ("Quyền giữ tài khoản", "Leases"),
    "cluster_processed": ("Đã xử lý", "Processed"),
    "cluster_seen": ("Nhịp gần nhất", "Last heartbeat"),
    "cluster_stream": ("Luồng hộp thư đến", "Inbox stream"),
    "cluster_messages": ("Tin trong luồng", "Messages kept"),
    "cluster_pending": ("Đang chờ", "Waiting"),
    "cluster_in_flight": ("Đang xử lý", "In work"),
    "cluster_server": ("Máy chủ NATS", "NATS server"),
    "cluster_role": ("Vai trò", "Role"),
    "cluster_lag": ("Độ trễ", "Lag"),
    "cluster_leader": ("dẫn đầu", "leader"),
    "cluster_current": ("bắt kịp", "current"),
    "cluster_behind": ("tụt lại", "behind"),
    "cluster_consumers": ("Phân vùng bận nhất", "Busiest partitions"),
    "cluster_partition": ("Phân vùng", "Partition"),
    "cluster_redelivered": ("Giao lại", "Redelivered"),
}


def pick_language(accept_language: str | None) -> str:
    """``vi`` when the browser prefers Vietnamese first, else ``en``."""
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        if tag.startswith("vi"):
            return "vi"
        if tag.startswith("en"):
            return "en"
    return "vi"


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` for ``lang`` (an unknown key shows as itself)."""
    index = 0 if lang == "vi" else 1

    def t(key: str) -> str:
        words = _WORDS.get(key)
        return words[index] if words else key

    return t
