"""The console's words in Chinese (the default) and English: one small catalogue.

A page asks `t(key)`; a key missing in English falls back to Chinese, and a key missing in both
shows itself, so a forgotten word is visible, never an error.
"""

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "console": ("区域标准协作平台", "Regional standards console"),
    "skip": ("跳到正文", "Skip to content"),
    "portal": ("公开目录", "Public catalogue"),
    "desk": ("我的工作台", "My desk"),
    "city": ("订阅城市", "Partner city"),
    "operator": ("运维", "Operations"),
    "signin": ("登录", "Sign in"),
    "signout": ("退出", "Sign out"),
    "signed_in_as": ("当前身份", "Signed in as"),
    "language": ("语言", "Language"),
    "choose_principal": ("选择身份（本地令牌簿）", "Choose a principal (local token book)"),
    "or_paste_token": ("或粘贴令牌", "Or paste a token"),
    "token": ("令牌", "Token"),
    "no_book": ("没有本地令牌簿：先运行 make up。", "No local token book: run make up first."),
    "unknown_token": ("未知的令牌。", "Unknown token."),
    "regulator": ("监管部门", "Regulator"),
    "awaiting": ("等待本地区表态的表决", "Ballots awaiting my region's position"),
    "none_awaiting": ("没有等待表态的表决。", "No ballot awaits your position."),
    "my_projects": ("本地区参与的其他项目", "My region's other open projects"),
    "overdue_first": ("逾期项目", "Overdue"),
    "deadline": ("截止", "Deadline"),
    "days_overdue": ("逾期天数", "Days overdue"),
    "overlaps": ("相似项目或标准", "Overlap matches"),
    "score": ("相似度", "Score"),
    "positions": ("各方意见", "Positions of the parties"),
    "position": ("意见", "Position"),
    "reason": ("理由", "Reason"),
    "approve": ("同意", "Approve"),
    "reject": ("不同意", "Reject"),
    "object": ("有异议", "Object"),
    "record_position": ("提交意见", "Record position"),
    "propose": ("立项申请", "Propose a project"),
    "area": ("合作区域", "Area"),
    "parties": ("参与方", "Parties"),
    "title_zh": ("中文名称", "Title (Chinese)"),
    "title_en": ("英文名称", "Title (English)"),
    "title": ("名称", "Title"),
    "scope": ("范围", "Scope"),
    "category": ("类别", "Category"),
    "kind": ("性质", "Kind"),
    "recommended": ("推荐性", "recommended"),
    "mandatory": ("强制性", "mandatory"),
    "organisations": ("提出单位（每行一个）", "Proposing organisations (one a line)"),
    "submit_proposal": ("提交立项申请", "Submit the proposal"),
    "overlap_note": (
        "提交后系统将与现有项目和已发布标准比对，相似者显示在项目页，供各方表决时参考。",
        "On submitting, the proposal is compared with existing projects and published standards; "
        "matches are shown on the project page for the voters.",
    ),
    "project": ("项目", "Project"),
    "status": ("状态", "Status"),
    "next_step": ("下一步", "Next step"),
    "timeline": ("过程记录", "Timeline"),
    "when": ("时间", "When"),
    "who": ("办理方", "By"),
    "what": ("事项", "What"),
    "why": ("说明", "Why"),
    "actions": ("办理", "Actions"),
    "step_drafting": ("开始起草", "Start drafting"),
    "step_public-comment": ("开始征求意见", "Open public comment"),
    "step_public-comment-close": ("结束征求意见", "Close public comment"),
    "review": ("技术审查结论", "Technical review conclusion"),
    "conclusion": ("审查结论", "Conclusion"),
    "passed": ("审查通过", "Passed"),
    "record_review": ("提交审查结论", "Record the conclusion"),
    "submit_text": ("报批：提交最终文本", "Submit the final text for approval"),
    "text_location": ("文本地址", "Text location"),
    "sha256": ("SHA-256 校验值", "SHA-256 digest"),
    "standard": ("标准", "Standard"),
    "numbers": ("标准编号", "Designations"),
    "text": ("全文", "Full text"),
    "publication_date": ("发布日期", "Publication date"),
    "implementation_date": ("实施日期", "Implementation date"),
    "standing": ("现行状态", "Standing"),
    "search": ("检索", "Search"),
    "search_hint": (
        "标准编号（任一连接号形式）或名称关键词",
        "Number (either dash form) or words of the title",
    ),
    "region": ("地区", "Region"),
    "year": ("年份", "Year"),
    "any": ("全部", "any"),
    "results": ("检索结果", "Results"),
    "no_results": ("没有符合条件的标准。", "No standard matches."),
    "feeds": ("订阅源（Atom）", "Atom feeds"),
    "refused": ("未办理", "Not done"),
    "done": ("已办理", "Done"),
    "clocks": ("时限", "Clocks"),
    "filings": ("备案", "Filings"),
    "reviews": ("复审", "Reviews"),
    "supersedes": ("代替", "Supersedes"),
    "subscriptions": ("订阅", "Subscriptions"),
    "received": ("已收到（订阅源条目）", "Received (feed entries)"),
    "feed_url": ("订阅地址", "Feed URL"),
    "services": ("服务", "Services"),
    "metrics": (
        "指标（消费滞后、发件箱积压、逾期时限）",
        "Metrics (consumer lag, outbox age, overdue clocks)",
    ),
    "dead_letters": ("死信", "Dead letters"),
    "metrics_short": ("服务指标", "Service figures"),
    "flows": ("业务流程追踪", "Flows"),
    "find_flow": (
        "查找流程：标准编号、项目编号或追踪编号",
        "Find a flow: standard number, project id or trace id",
    ),
    "show_store_calls": ("显示数据库调用", "Show store calls"),
    "open_in_tracing": ("在追踪系统中打开", "Open in the tracing back end"),
    "spans_not_local": (
        "各服务的追踪数据发往 OTLP 收集器，本地未保存：请在追踪系统中查看。",
        "The services send their spans to an OTLP collector and keep none locally: see the tracing back end.",
    ),
    "spans_truncated": ("数据过多，只显示最早的部分。", "Too many spans: only the earliest are shown."),
    "no_flow": ("没有找到这个流程的追踪数据。", "No spans of this flow are kept."),
    "errors": ("错误", "errors"),
    "error": ("错误", "Error"),
    "span": ("环节", "Span"),
    "service": ("服务", "Service"),
    "timeline_bar": ("时间轴", "Timeline"),
    "dead_letters_note": (
        "各服务无法处理的消息，按所消费的主题列出，最新的在前。原因排除后可重放：消息按原分区、原键重新发布，每封只会重放一次。",
        "Records a service could not handle, per topic it consumes, newest first. Once the cause is "
        "fixed, replay one: it is re-published to its origin partition with its key, once however "
        "often asked.",
    ),
    "no_letters": ("没有死信。", "No dead letters."),
    "letter": ("死信", "Letter"),
    "event_type": ("事件类型", "Event type"),
    "origin": ("原主题:分区:偏移", "Origin topic:partition:offset"),
    "failed_at": ("失败时间", "Failed at"),
    "replayed_at": ("已于此时重放：", "Replayed at"),
    "replay": ("重放", "Replay"),
    "replay_confirm": (
        "确认由 {service} 将死信 {letter} 按原键、原内容重新发布到主题 {topic} 的第 {partition} 分区？"
        "所有消费该主题的服务都会再次收到它；已处理过的会按事件编号忽略。每封死信只会发布一次，重复确认不会再次发布。",
        "Have {service} re-publish the letter {letter} with its original key and content to topic {topic}, "
        "partition {partition}? Every service consuming that topic sees it again; those that handled it "
        "drop it by its event id. A letter is published once: confirming again sends nothing more.",
    ),
    "replay_now": ("确认重放", "Yes, replay it"),
    "cancel": ("取消", "Cancel"),
    "replayed_now": ("已重放，重新发布到", "Replayed now, re-published to"),
    "replayed_before": (
        "此前已重放过，本次未再发布；当时发布到",
        "Replayed before; nothing was sent now. It went to",
    ),
    "all_categories": ("全部类别", "All categories"),
    "received_from": (
        "“已收到”取自发布服务为本市提供的 Atom 订阅源（本市所在合作区域的发布、备案、复审、废止等），"
        "时间为发布服务记录的时间。"
        "使用 regstd subscribe 的城市在本地另有台账，服务端无法读取。",
        "“Received” is the city's Atom feed from publication (publications, filings, reviews, "
        "abolitions… of the areas it belongs to), each at the moment publication recorded it. A city "
        "running `regstd subscribe` keeps its own ledger on its disk, which no service reads.",
    ),
    "nothing_received": ("尚未收到任何标准。", "Nothing received yet."),
    "up": ("正常", "up"),
    "down": ("无响应", "down"),
    "overdue_projects": ("超过制定周期的项目", "Projects past the cycle-time target"),
    "not_allowed": ("当前身份无权查看此页。", "This page is not for the signed-in principal."),
    "csrf_refused": (
        "表单已过期或来源不明，请刷新页面后重试。",
        "The form expired or did not come from this console: reload the page and try again.",
    ),
    "st_awaiting_project_approval": ("待立项表决", "awaiting project approval"),
    "st_project_approved": ("已立项", "project approved"),
    "st_drafting": ("起草中", "drafting"),
    "st_public_comment": ("征求意见中", "public comment"),
    "st_technical_review": ("协同审查中", "technical review"),
    "st_awaiting_final_approval": ("待批准表决", "awaiting final approval"),
    "st_finally_approved": ("已批准", "finally approved"),
    "st_rejected": ("未通过", "rejected"),
    "stage_project_approval": ("立项表决", "project approval ballot"),
    "stage_final_approval": ("批准表决", "final approval ballot"),
}


def translate(key: str, lang: Lang) -> str:
    """The word for `key` in `lang`."""
    words = MESSAGES.get(key)
    if words is None:
        return key
    return words[1] if lang == "en" and words[1] else words[0]
