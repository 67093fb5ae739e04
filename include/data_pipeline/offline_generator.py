"""The offline generator: deterministic comments, themes and question/SQL pairs derived from the schema.

It is the provider used when no LLM is configured (SPEC §7.5), so it must produce output a user can
train on: comments read like a person wrote them, and every SQL it emits is valid against the real
schema (identifiers quoted exactly where PostgreSQL needs it). Nothing here touches the network, and
the same schema always gives the same output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from data_pipeline.schema_model import ColumnInfo, TableComments, TableInfo

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# token (or token sequence joined by "_") | Chinese | English; entries separated by two spaces, "#" starts a
# comment line. Multi-token entries win over single tokens (greedy longest match).
_WORD_TABLE = """
# identity and codes
id|编号|ID  uuid|唯一标识|UUID  guid|唯一标识|GUID  pk|主键|primary key
no|编码|number  num|编号|number  code|编码|code  key|键|key  sn|序列号|serial number
seq|序号|sequence  serial|序列号|serial  ref|引用|reference  parent|上级|parent
child|下级|child
# names and text
name|名称|name  title|标题|title  label|标签|label  tag|标签|tag  desc|描述|description
description|描述|description  remark|备注|remark  remarks|备注|remarks  note|备注|note
notes|备注|notes  comment|评论|comment  content|内容|content  text|文本|text
memo|备忘|memo  alias|别名|alias  full|全|full  short|简|short  abbr|简称|abbreviation
nickname|昵称|nickname  keyword|关键词|keyword
# time
date|日期|date  time|时间|time  ts|时间|timestamp  timestamp|时间戳|timestamp
datetime|日期时间|date and time  day|日|day  daily|每日|daily  week|周|week
weekly|每周|weekly  month|月份|month  monthly|月度|monthly  year|年份|year
yearly|年度|yearly  quarter|季度|quarter  hour|小时|hour  minute|分钟|minute
second|秒|second  period|周期|period  start|开始|start  begin|开始|begin  end|结束|end
finish|完成|finish  open|开业|opening  close|关闭|closing  expire|过期|expiry
expired|过期|expired  duration|时长|duration  birthday|生日|birthday  birth|出生|birth
created_at|创建时间|creation time  create_time|创建时间|creation time
created_time|创建时间|creation time  create_date|创建日期|creation date
created_by|创建人|created by  create_by|创建人|created by  creator|创建人|creator
updated_at|更新时间|update time  update_time|更新时间|update time
updated_time|更新时间|update time  modified_at|修改时间|modification time
modify_time|修改时间|modification time  updated_by|更新人|updated by
update_by|更新人|updated by  modifier|修改人|modifier  deleted_at|删除时间|deletion time
delete_ts|删除时间|deletion time  delete_time|删除时间|deletion time
deleted_time|删除时间|deletion time  deleted_by|删除人|deleted by
oper_date|营业日期|operating date  stat_date|统计日期|statistics date
count_date|统计日期|count date  biz_date|业务日期|business date
data_date|数据日期|data date
# state and kind
status|状态|status  state|状态|state  type|类型|type  kind|种类|kind
category|类别|category  classify|类别|classification  class|类别|class  level|级别|level
grade|等级|grade  rank|排名|rank  flag|标志|flag  mode|模式|mode  source|来源|source
channel|渠道|channel  enabled|是否启用|enabled  enable|启用|enable  active|有效|active
valid|有效|valid  deleted|已删除|deleted  delete|删除|delete  del|删除|deleted
is|是否|is  has|是否有|has  visible|可见|visible  default|默认|default
version|版本|version  sort|排序|sort  order_no|订单编号|order number
# measures
amount|金额|amount  amt|金额|amount  sum|合计|total  total|总计|total  count|数量|count
cnt|数量|count  qty|数量|quantity  quantity|数量|quantity  number|数量|number
times|次数|times  price|价格|price  cost|成本|cost  fee|费用|fee  charge|充电|charging
money|金额|money  balance|余额|balance  revenue|营收|revenue  income|收入|income
profit|利润|profit  tax|税额|tax  discount|折扣|discount  rate|比率|rate  ratio|比例|ratio
percent|百分比|percent  score|分数|score  avg|平均|average  max|最大|maximum
min|最小|minimum  weight|重量|weight  height|高度|height  width|宽度|width
length|长度|length  size|大小|size  area|区域|area  volume|体积|volume
capacity|容量|capacity  kwh|电量（千瓦时）|energy (kWh)  power|功率|power
distance|距离|distance  mileage|里程|mileage  stock|库存|stock  sales|销售额|sales
sale|销售|sale  salary|薪资|salary  budget|预算|budget  pile|充电桩|charging pile
# people and organisation
user|用户|user  users|用户|users  customer|客户|customer  client|客户|client
member|会员|member  employee|员工|employee  staff|员工|staff  emp|员工|employee
manager|经理|manager  operator|运营商|operator  owner|负责人|owner
contact|联系人|contact  person|人员|person  account|账户|account  company|公司|company
corp|公司|corporation  org|组织|organization  organization|组织|organization
dept|部门|department  department|部门|department  team|团队|team  group|分组|group
role|角色|role  supplier|供应商|supplier  vendor|供应商|vendor  merchant|商户|merchant
shop|店铺|shop  store|门店|store  branch|门店|branch  brand|品牌|brand
product|产品|product  goods|商品|goods  item|项目|item  sku|SKU|SKU  partner|合作方|partner
# places
address|地址|address  addr|地址|address  city|城市|city  province|省份|province
country|国家|country  region|区域|region  district|区县|district  zone|区域|zone
location|位置|location  position|位置|position  site|站点|site  station|站点|station
longitude|经度|longitude  lng|经度|longitude  lon|经度|longitude  latitude|纬度|latitude
lat|纬度|latitude  service_area|服务区|service area  service|服务|service  route|路段|route
section|路段|section  road|道路|road  highway|高速公路|highway  lane|车道|lane
gate|出入口|gate  toll|收费|toll  side|方位|side  link|关联|link  rel|关联|relation
map|映射|mapping  mapping|映射|mapping
# commerce and transport
order|订单|order  orders|订单|orders  pay|支付|payment  payment|支付|payment
paid|已支付|paid  refund|退款|refund  invoice|发票|invoice  bill|账单|bill
trade|交易|trade  transaction|交易|transaction  txn|交易|transaction  contract|合同|contract
car|车辆|car  vehicle|车辆|vehicle  plate|车牌|plate  truck|货车|truck
traffic|车流量|traffic  flow|流量|flow  visit|访问|visit  business|营业|business
biz|业务|business  oper|营业|operating  stat|统计|statistics  stats|统计|statistics
report|报表|report  log|日志|log  record|记录|record  detail|明细|detail
details|明细|details  data|数据|data  info|信息|information  config|配置|configuration
setting|设置|setting  event|事件|event  task|任务|task  job|作业|job  file|文件|file
image|图片|image  url|链接|URL  path|路径|path  email|邮箱|email  phone|电话|phone
mobile|手机号|mobile  tel|电话|telephone  fax|传真|fax  gender|性别|gender  sex|性别|sex
age|年龄|age  password|密码|password  login|登录|login  ip|IP地址|IP address
lang|语言|language  currency|币种|currency  unit|单位|unit  model|型号|model
spec|规格|specification  color|颜色|color
# pinyin abbreviations seen in Chinese schemas
wx|微信|WeChat  zfb|支付宝|Alipay  rmb|现金|cash  xj|现金|cash  mc|名称|name
bm|编码|code  dm|代码|code  rq|日期|date  sj|时间|time  je|金额|amount  sl|数量|quantity
zt|状态|status  lx|类型|type  xm|姓名|name  dz|地址|address  dh|电话|phone
bz|备注|remark  fwq|服务区|service area  gs|公司|company  zf|支付宝|Alipay
xs|行吧|Xingba  jd|金豆|Jindou
"""


def _parse_word_table(text: str) -> dict[str, tuple[str, str]]:
    words: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for entry in line.split("  "):
            token, zh, en = (part.strip() for part in entry.split("|"))
            words[token] = (zh, en)
    return words


_WORDS = _parse_word_table(_WORD_TABLE)

# Table-name prefixes that carry no business meaning (``t_user``, ``ods_order``, ``bss_company``).
_TABLE_PREFIXES = {"t", "tb", "tbl", "table", "bss", "ods", "dwd", "dws", "dim", "ads", "dwa", "tmp", "sys"}
_MAX_PHRASE_TOKENS = 3


def has_cjk(text: str | None) -> bool:
    return bool(text and _CJK.search(text))


def split_tokens(name: str) -> list[str]:
    """``serviceAreaID2`` / ``service_area_id`` -> ``['service', 'area', 'id', '2']`` (lower case)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    spaced = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), spaced)
    return [t.lower() for t in re.split(r"[\s_\-.$]+", spaced) if t]


def _translate(tokens: Sequence[str], zh: bool) -> list[str]:
    """Greedy longest-match of token sequences against the dictionary; unknown tokens stay as they are."""
    words: list[str] = []
    i = 0
    while i < len(tokens):
        for span in range(min(_MAX_PHRASE_TOKENS, len(tokens) - i), 0, -1):
            key = "_".join(tokens[i:i + span])
            if key in _WORDS:
                words.append(_WORDS[key][0 if zh else 1])
                i += span
                break
        else:
            words.append(tokens[i])
            i += 1
    return words


def _join(words: Sequence[str], zh: bool) -> str:
    if not zh:
        return " ".join(words)
    out = ""
    for word in words:
        # keep a space between two ASCII words so "wx order" does not become "wxorder"
        if out and out[-1].isascii() and out[-1].isalnum() and word[:1].isascii() and word[:1].isalnum():
            out += " "
        out += word
    return out


def name_phrase(name: str, zh: bool) -> str:
    """A readable phrase for an identifier (the identifier itself when it is already Chinese)."""
    if has_cjk(name):
        return name
    tokens = split_tokens(name)
    if not tokens:
        return name
    return _join(_translate(tokens, zh), zh)


def _dedupe_adjacent(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if not out or out[-1] != word:
            out.append(word)
    return out


def table_phrase(table: TableInfo, zh: bool) -> str:
    """The table's comment if it has one, else a phrase from its name without technical prefixes."""
    if table.comment:
        return table.comment
    if has_cjk(table.name):
        return table.name
    tokens = split_tokens(table.name)
    while len(tokens) > 1 and tokens[0] in _TABLE_PREFIXES:
        tokens = tokens[1:]
    return _join(_dedupe_adjacent(_translate(tokens, zh)), zh) or table.name


def column_phrase(column: ColumnInfo, zh: bool) -> str:
    """The column's comment (first clause, before a colon) if it has one, else a phrase from its name."""
    if column.comment:
        return re.split(r"[:：(（]", column.comment, maxsplit=1)[0].strip() or column.comment
    return name_phrase(column.name, zh)


def schema_is_chinese(tables: Sequence[TableInfo], business_context: str = "") -> bool:
    """Chinese output when the business context or any existing comment is Chinese."""
    if has_cjk(business_context):
        return True
    for table in tables:
        if has_cjk(table.comment) or any(has_cjk(c.comment) or has_cjk(c.name) for c in table.columns):
            return True
        if has_cjk(table.name):
            return True
    return False


def _column_comment(table: TableInfo, column: ColumnInfo, zh: bool) -> str:
    tokens = split_tokens(column.name)
    if has_cjk(column.name):
        text = column.name
    elif column.base_type == "boolean" and tokens and tokens[0] not in {"is", "has"}:
        text = ("是否" if zh else "whether ") + name_phrase(column.name, zh)
        if zh:
            text = text.replace("是否是否", "是否")
    else:
        text = name_phrase(column.name, zh)
    if column.name in table.primary_key and len(table.primary_key) == 1 and tokens in (["id"], ["pk"]):
        text = "主键" if zh else "Primary key"
    if not zh and text:
        text = text[0].upper() + text[1:]
    for fk in table.foreign_keys:
        if column.name in fk.columns and len(fk.columns) == 1:
            target = f"{fk.ref_table}.{fk.ref_columns[0]}" if fk.ref_columns else fk.ref_table
            text += f"（关联 {target}）" if zh else f" (references {target})"
            break
    values = column.enum_values or []
    if values and len(values) <= 8 and all(len(v) <= 20 for v in values):
        sep = "/"
        text += ("：" if zh else ": ") + sep.join(values)
    return text


def describe_table_offline(table: TableInfo, business_context: str) -> TableComments:
    """Comments derived from names: Chinese when the context or existing comments are Chinese."""
    zh = schema_is_chinese([table], business_context)
    if table.comment:
        table_comment = table.comment
    else:
        phrase = table_phrase(table, zh)
        table_comment = (phrase if phrase.endswith("表") else phrase + "表") if zh else phrase[:1].upper() + phrase[1:]
    columns = {c.name: _column_comment(table, c, zh) for c in table.columns}
    return TableComments(table_comment=table_comment, column_comments=columns)


class OfflineGenerator:
    """Deterministic generator used when no LLM is configured; implements ``generator.Generator``."""

    name = "offline"

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        return describe_table_offline(table, business_context)
