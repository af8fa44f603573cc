"""What the demo loads. Every account's password is DEMO_PASSWORD."""

from __future__ import annotations

DEMO_PASSWORD = "demo1234"  # noqa: S105  (documented demo credential)

# (email, name, role, supervisor email, team, region)
USERS = [
    ("admin@demo.portal", "系统管理员", "admin", None, None, None),
    ("marketing@demo.portal", "林晓（市场部）", "marketing", None, None, None),
    ("supervisor@demo.portal", "王强（华东主管）", "supervisor", None, "华东", "上海"),
    ("supervisor.south@demo.portal", "陈敏（华南主管）", "supervisor", None, "华南", "深圳"),
    ("rep@demo.portal", "李娜", "rep", "supervisor@demo.portal", "华东", "上海"),
    ("rep2@demo.portal", "赵磊", "rep", "supervisor@demo.portal", "华东", "杭州"),
    ("rep.south@demo.portal", "周杰", "rep", "supervisor.south@demo.portal", "华南", "深圳"),
    ("finance@demo.portal", "孙丽（财务）", "finance", None, None, None),
    ("legal@demo.portal", "吴涛（法务）", "legal", None, None, None),
]

# (file or folder under content/, name, kind, industry, scenario, product line, tags,
#  changelog, content tags, allowed teams)
TEMPLATES = [
    (
        "quote_zh.html",
        "MES 标准报价单",
        "quote",
        "制造业",
        "报价",
        "云启 MES",
        "报价,价格,MES",
        "首版：含六项报价明细与付款方式",
        "2:pricing",
        [],
    ),
    (
        "case_study_zh.html",
        "汽车零部件客户案例",
        "case_study",
        "制造业",
        "客户案例",
        "云启 MES",
        "案例,汽车零部件",
        "首版：苏州汽车零部件集团案例",
        "1:case; 2:case",
        [],
    ),
    (
        "solution_zh.html",
        "智能制造解决方案包",
        "solution",
        "制造业",
        "方案",
        "云启 MES",
        "解决方案,架构,实施",
        "首版：总体架构与实施路线",
        "",
        [],
    ),
    (
        "brochure_zh",
        "云启 MES 产品手册",
        "brochure",
        "制造业",
        "产品介绍",
        "云启 MES",
        "手册,产品介绍",
        "首版：四大核心功能",
        "",
        [],
    ),
    (
        "brochure_en.html",
        "CloudStart MES brochure (EN)",
        "brochure",
        "制造业",
        "Product overview",
        "云启 MES",
        "brochure,english",
        "First edition for international customers",
        "",
        ["华南"],
    ),
    (
        "case_study_en.html",
        "Retail replenishment case study (EN)",
        "case_study",
        "零售",
        "Case study",
        "云启 Retail",
        "case,retail,english",
        "First edition",
        "1:case",
        [],
    ),
]

# A second version so the library shows an update log from the start.
QUOTE_V2_CHANGELOG = "实施服务由 40 人天调整为 36 人天，合计金额同步更新"

# (name, company, title, email, phone, industry, region, owner email)
CUSTOMERS = [
    (
        "张伟",
        "华东精密制造有限公司",
        "采购总监",
        "zhang.wei@example.cn",
        "13800000001",
        "制造业",
        "上海",
        "rep@demo.portal",
    ),
    (
        "刘洋",
        "杭州新材料科技股份有限公司",
        "生产经理",
        "liu.yang@example.cn",
        "13800000002",
        "制造业",
        "杭州",
        "rep2@demo.portal",
    ),
    (
        "王芳",
        "苏州汇通零部件集团",
        "副总经理",
        "wang.fang@example.cn",
        "13800000003",
        "制造业",
        "苏州",
        "rep@demo.portal",
    ),
    (
        "黄磊",
        "深圳优品零售连锁",
        "CEO",
        "huang.lei@example.cn",
        "13800000004",
        "零售",
        "深圳",
        "rep.south@demo.portal",
    ),
    (
        "Emily Chen",
        "Pacific Retail Group",
        "Head of Operations",
        "emily.chen@example.com",
        "+852 5555 0101",
        "零售",
        "深圳",
        "rep.south@demo.portal",
    ),
    (
        "孙丽",
        "上海康健医疗器械有限公司",
        "IT 主管",
        "sun.li@example.cn",
        "13800000006",
        "医疗",
        "上海",
        "rep@demo.portal",
    ),
]
