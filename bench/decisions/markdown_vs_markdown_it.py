"""Time per reply: zalogate's hand-written converter vs markdown-it-py (parse only, and the
prototype converter on its tokens). Run: PYTHONPATH=/tmp/mdproto python measure.py"""

import time

from markdown_it import MarkdownIt
from proto_mdit import markdown_to_styled as proto

from zalogate.channels.zalouser.markdown_styles import markdown_to_styled as hand

REPLIES = [
    "Xin chào! Mình có thể giúp gì cho bạn hôm nay?",
    "Chắc chắn rồi. **Tóm tắt** cuộc họp:\n\n- Ra mắt sản phẩm vào *thứ Sáu*\n- Ngân sách: 120 triệu\n- Người phụ trách: An\n\nBạn cần thêm chi tiết không?",
    "# Hướng dẫn cài đặt\n\n1. Tải gói về\n2. Chạy lệnh sau:\n\n```bash\npip install zalogate\nzalogate gateway run\n```\n\n3. Mở `config.json5` và điền **token**.\n\n> Lưu ý: đừng chia sẻ token với ai.",
    "Here is the fix:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThe bug was that `add` used **string** concatenation; ~~old code~~ is gone. See _docs_ for more.",
    "Kết quả:\n\n## Ưu điểm\n- Nhanh\n- Rẻ\n  - rất rẻ\n\n## Nhược điểm\n- Chưa có bản iOS 😀\n\n{red}Cảnh báo{/red}: bản beta.",
    "The weather today is sunny with a high of 31°C and a low of 25°C. Remember to stay hydrated and wear sunscreen if you go outside this afternoon.",
]
LONG = "\n\n".join(REPLIES * 4)  # a ~3 kB reply


def per_call(fn, texts, rounds=2000):
    best = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                fn(text)
        best.append((time.perf_counter() - start) / (rounds * len(texts)))
    return min(best) * 1e6


md = MarkdownIt("commonmark").enable("strikethrough")
for name, texts, rounds in (
    ("typical (6 replies, 45-260 chars)", REPLIES, 500),
    ("long (~3 kB)", [LONG], 100),
):
    print(name)
    print(f"  hand-written markdown_to_styled  {per_call(hand, texts, rounds):8.1f} us/message")
    print(f"  markdown-it-py parse only        {per_call(md.parse, texts, rounds):8.1f} us/message")
    print(f"  markdown-it-py + token walk      {per_call(proto, texts, rounds):8.1f} us/message")
same = sum(hand(t) == proto(t) for t in REPLIES)
print(f"identical output on {same}/{len(REPLIES)} typical replies")
for t in REPLIES:
    a, b = hand(t), proto(t)
    if a != b:
        print("--- differs:", repr(t[:50]))
        print("   hand :", repr(a.text[:120]))
        print("   mdit :", repr(b.text[:120]))
