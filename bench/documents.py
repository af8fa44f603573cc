"""The documents the figures send: a 5-page Chinese HTML template and a ~1 MiB PDF."""

from __future__ import annotations

import io
import random

CHINESE_5_PAGES = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>
  @page { size: A4; margin: 18mm; }
  body { font-family: "Noto Sans CJK SC", sans-serif; font-size: 11pt; line-height: 1.6; }
  section { page-break-after: always; }
  section:last-child { page-break-after: auto; }
  h1 { font-size: 20pt; color: #1d3557; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border: 1px solid #999; padding: 4px 8px; }
</style></head><body>
<section>
  <h1>华东精密制造 智能产线解决方案</h1>
  <p>尊敬的 {{ customer.name }}（{{ customer.title }}，{{ customer.company }}）：</p>
  <p>感谢您对我们产品的关注。本方案由 {{ rep.name }} 为您准备，日期 {{ today_cn }}。</p>
  {% for i in range(8) %}<p>第{{ i + 1 }}段：我们的智能产线以模块化设计为核心，
  覆盖从来料检验、柔性装配到成品检测的全部环节，帮助客户缩短换型时间、提升良品率、
  降低单位能耗。系统与现有的企业资源计划和制造执行系统对接，数据实时可见。</p>{% endfor %}
</section>
<section>
  <h1>方案概述</h1>
  {% for i in range(14) %}<p>产线由六个标准工作站组成，每个工作站配备视觉检测、
  扭矩监控与追溯标签，节拍可在三十秒至九十秒之间调整。第{{ i + 1 }}项说明。</p>{% endfor %}
</section>
<section>
  <h1>客户案例</h1>
  {% for i in range(10) %}<p>某汽车零部件企业在导入本方案后，换型时间由四小时降至
  四十分钟，一次合格率由百分之九十二提升至百分之九十八点五。案例{{ i + 1 }}。</p>{% endfor %}
</section>
<section>
  <h1>报价</h1>
  <table><tr><th>项目</th><th>数量</th><th>单价（元）</th><th>小计（元）</th></tr>
  {% for i in range(20) %}<tr><td>工作站模块 {{ i + 1 }} 型</td><td>{{ i + 1 }}</td>
  <td>{{ 12000 + i * 500 }}</td><td>{{ (i + 1) * (12000 + i * 500) }}</td></tr>{% endfor %}
  </table>
  <p>以上报价含税，有效期三十天。付款方式：合同签订后支付百分之三十，验收后支付余款。</p>
</section>
<section>
  <h1>服务与联系方式</h1>
  {% for i in range(10) %}<p>我们提供七乘二十四小时远程支持，重点区域四小时到场。
  备件库覆盖华东、华南、华北三大区域。第{{ i + 1 }}条服务承诺。</p>{% endfor %}
  <p>联系人：{{ rep.name }}，邮箱 {{ rep.email }}</p>
</section>
</body></html>"""
CHINESE_CONTENT_TAGS = "2:case; 3:case; 4:pricing"


def noise_pdf(pages: int = 5, seed: int = 5) -> bytes:
    """A PDF of `pages` pages of JPEG noise, about 1 MiB: a brochure-sized file that does not
    compress (so every byte is really served)."""
    from PIL import Image

    rnd = random.Random(seed)  # noqa: S311  (reproducible noise, not a secret)
    width, height = 560, 792
    images = [
        Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
        for _ in range(pages)
    ]
    out = io.BytesIO()
    images[0].save(
        out, format="PDF", save_all=True, append_images=images[1:], resolution=72, quality=60
    )
    return out.getvalue()
