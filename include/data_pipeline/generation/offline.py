"""The offline generator: deterministic comments, themes and question/SQL pairs derived from the schema.

It is the provider used when no LLM is configured, so it must produce output a user can
train on: comments read like a person wrote them, and every SQL it emits is valid against the real
schema (identifiers quoted exactly where PostgreSQL needs it). Nothing here touches the network, and
the same schema always gives the same output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from data_pipeline.files.table_list import quote_if_needed as quote_ident
from data_pipeline.schema.model import ColumnInfo, ForeignKey, QAPair, TableComments, TableInfo, Theme

if TYPE_CHECKING:
    from data_pipeline.generation.base import RepairRequest

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
            words.append(_stemmed(tokens[i], zh))
            i += 1
    return words


def _stemmed(token: str, zh: bool) -> str:
    """``charging`` -> ``charge``, ``orders`` -> ``order``: a plural or -ing form of a known word."""
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e")):
        if token.endswith(suffix) and len(token) > len(suffix) + 2:
            base = token[: -len(suffix)] + repl
            if base in _WORDS:
                return _WORDS[base][0] if zh else token
    return token


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


def _fits(comment: str | None, generated: bool, zh: bool) -> bool:
    """A database comment always counts; a generated one only when it is in the language wanted."""
    return bool(comment) and (not generated or has_cjk(comment) == zh)


def table_phrase(table: TableInfo, zh: bool) -> str:
    """The table's comment if it has one, else a phrase from its name without technical prefixes."""
    if table.comment and _fits(table.comment, table.comment_generated, zh):
        return table.comment
    if has_cjk(table.name):
        return table.name
    tokens = split_tokens(table.name)
    while len(tokens) > 1 and tokens[0] in _TABLE_PREFIXES:
        tokens = tokens[1:]
    return _join(_dedupe_adjacent(_translate(tokens, zh)), zh) or table.name


def column_phrase(column: ColumnInfo, zh: bool) -> str:
    """The column's comment (first clause, before a colon) if it has one, else a phrase from its name."""
    if column.comment and _fits(column.comment, column.comment_generated, zh):
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
    """Comments derived from names: Chinese when the context, existing comments or the data are Chinese."""
    zh = schema_is_chinese([table], business_context) or any(
        has_cjk(v) for c in table.columns for v in [*(c.enum_values or []), *c.sample_values[:5]])
    if table.comment:
        table_comment = table.comment
    else:
        phrase = table_phrase(table, zh)
        table_comment = (phrase if phrase.endswith("表") else phrase + "表") if zh else phrase[:1].upper() + phrase[1:]
    columns = {c.name: _column_comment(table, c, zh) for c in table.columns}
    return TableComments(table_comment=table_comment, column_comments=columns)


# -- themes and question/SQL pairs ------------------------------------------------------------------

_DELETE_FLAGS = {"deleted", "is_deleted", "is_delete", "del_flag", "delete_flag", "is_del", "del", "removed",
                 "is_removed"}
_DELETE_TIMES = {"delete_ts", "deleted_at", "delete_time", "deleted_time", "delete_date", "deleted_on",
                 "removed_at"}
_AUDIT_TIMES = {"created_at", "create_time", "created_time", "create_date", "updated_at", "update_time",
                "updated_time", "modified_at", "modify_time", "gmt_create", "gmt_modified", "insert_time"}
_NOT_MEASURES = {"id", "no", "code", "lat", "latitude", "lng", "lon", "longitude", "year", "month", "day", "seq",
                 "sort", "order_no", "version", "level", "type", "status", "state", "phone", "mobile", "zip"}
_TOTAL_TOKENS = {"sum", "total", "amount", "amt", "revenue", "income", "sales", "fee", "money", "pay"}
_ENTITY_SUFFIXES = ("日统计", "日数据", "统计表", "数据表", "明细", "记录", "统计", "数据", "表")
_LABEL_SUFFIXES = ("名称", "名字", "姓名", "编码", "编号", "代码")
_MAX_ENUM_FOR_FILTER = 20


def _literal(value: str, column: ColumnInfo) -> str | None:
    """A SQL literal for ``value`` compared with ``column``; None when it cannot be written safely."""
    if "\\" in value or "\x00" in value:
        return None
    if column.is_numeric:
        return value if re.fullmatch(r"-?\d+(\.\d+)?", value) else None
    return "'" + value.replace("'", "''") + "'"


def _strip_suffixes(text: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _entity(table: TableInfo, zh: bool) -> str:
    """What one row of the table is, for questions: ``公司（路段管理分公司）`` -> ``公司``."""
    phrase = re.split(r"[（(]", table_phrase(table, zh), maxsplit=1)[0].strip() or table.name
    phrase = re.split(r"[/／、]", phrase, maxsplit=1)[0].strip() or phrase
    if zh:
        return _strip_suffixes(phrase, ("表",))
    phrase = re.sub(r"\s+table$", "", phrase, flags=re.I)
    return phrase[:1].lower() + phrase[1:] if not phrase[:2].isupper() else phrase


def _topic_entity(table: TableInfo, zh: bool) -> str:
    entity = _entity(table, zh)
    if zh:
        return _strip_suffixes(entity, _ENTITY_SUFFIXES)
    return re.sub(r"\s+((daily|day)\s+)?(data|records?|details?|statistics|stats)$", "", entity) or entity


def _column_words(column: ColumnInfo, zh: bool) -> str:
    phrase = column_phrase(column, zh)
    if zh or not _fits(column.comment, column.comment_generated, zh) or not phrase[1:2].islower():
        return phrase
    return phrase[:1].lower() + phrase[1:]  # "Customer count" from a comment, inside a sentence


class _Profile:
    """What the offline generator needs to know to ask sensible questions about one table."""

    def __init__(self, table: TableInfo, zh: bool) -> None:
        self.table = table
        self.zh = zh
        self.ref = table.ref.display
        self.entity = _entity(table, zh)
        fk_columns = {c for fk in table.foreign_keys for c in fk.columns}
        self.fk_columns = fk_columns
        self.delete_flag = next((c for c in table.columns if c.name.lower() in _DELETE_FLAGS
                                 and c.base_type in ("boolean", "integer")), None)
        self.delete_time = next((c for c in table.columns if c.name.lower() in _DELETE_TIMES and c.is_temporal), None)
        self.labels = [c for c in table.columns if c.is_text and not c.enum_values and c.name not in fk_columns
                       and (split_tokens(c.name)[-1:] in (["name"], ["title"]) or
                            (c.comment is not None and re.search(r"名称|姓名|name", c.comment, re.I) is not None))]
        self.categories = [c for c in table.columns if c.enum_values and 1 < len(c.enum_values) <= 20
                           and c.base_type not in ("boolean",) and c is not self.delete_flag
                           and c.name not in fk_columns and not c.is_primary_key]
        self.time = self._pick_time()
        self.measures = self._pick_measures()
        self.year = self._year()
        self.ambiguous: set[str] = set()  # measure phrases other fact tables use too (set by _profiles)

    def _pick_time(self) -> ColumnInfo | None:
        temporal = [c for c in self.table.columns if c.is_temporal and c is not self.delete_time]
        business = [c for c in temporal if c.name.lower() not in _AUDIT_TIMES]
        for group in (business, temporal):
            dates = [c for c in group if c.base_type == "date"]
            if dates or group:
                return (dates or group)[0]
        return None

    def _pick_measures(self) -> list[ColumnInfo]:
        found = []
        for column in self.table.columns:
            tokens = split_tokens(column.name)
            if (not column.is_numeric or column.is_primary_key or column.name in self.fk_columns
                    or column is self.delete_flag or column.enum_values or not tokens
                    or tokens[-1] in _NOT_MEASURES or "_".join(tokens) in _NOT_MEASURES
                    or column.identity is not None):
                continue
            found.append(column)
        # totals first (pay_sum, amount, ...), then the others in table order
        return sorted(found, key=lambda c: (not (set(split_tokens(c.name)) & _TOTAL_TOKENS
                                                 or "总" in (c.comment or "") or "合计" in (c.comment or "")),
                                            self.table.columns.index(c)))

    def _year(self) -> int | None:
        if self.time is None:
            return None
        years = [int(v[:4]) for v in self.time.sample_values if re.match(r"^\d{4}-\d{2}", v)]
        return max(years) if years else None

    @property
    def is_fact(self) -> bool:
        return self.time is not None and self.time.name.lower() not in _AUDIT_TIMES and bool(self.measures)

    @property
    def is_link(self) -> bool:
        """A many-to-many link table: two or more foreign keys and nothing else of its own."""
        own = [c for c in self.table.columns if c.name not in self.fk_columns and not c.is_primary_key
               and c.name.lower() not in _AUDIT_TIMES]
        return len(self.table.foreign_keys) >= 2 and not own

    def alive(self, alias: str | None = None) -> str | None:
        """The condition that keeps rows not logically deleted, or None when the table has no such column."""
        prefix = f"{alias}." if alias else ""
        if self.delete_flag is not None:
            column = prefix + quote_ident(self.delete_flag.name)
            if self.delete_flag.base_type == "boolean":
                return f"{column} IS NOT TRUE" if self.delete_flag.nullable else f"NOT {column}"
            return f"COALESCE({column}, 0) = 0"
        if self.delete_time is not None:
            return f"{prefix}{quote_ident(self.delete_time.name)} IS NULL"
        return None

    def deleted(self) -> str | None:
        if self.delete_flag is not None:
            column = quote_ident(self.delete_flag.name)
            return column if self.delete_flag.base_type == "boolean" else f"{column} <> 0"
        if self.delete_time is not None:
            return f"{quote_ident(self.delete_time.name)} IS NOT NULL"
        return None

    def category_words(self, column: ColumnInfo) -> str:
        words = _column_words(column, self.zh)
        if self.zh:
            return _strip_suffixes(words, _LABEL_SUFFIXES)
        return re.sub(r"\s+name$", "", words) or words

    def measure_words(self, column: ColumnInfo) -> str:
        """The measure's phrase, with its table named when another table has a measure called the same."""
        words = _column_words(column, self.zh)
        if words not in self.ambiguous:
            return words
        subject = _topic_entity(self.table, self.zh)
        return f"{subject}的{words}" if self.zh else f"{words} of {subject}"

    def label_for(self) -> ColumnInfo | None:
        return self.labels[0] if self.labels else None

    def label_words(self, column: ColumnInfo) -> str:
        words = _column_words(column, self.zh)
        if self.zh:
            return _strip_suffixes(words, _LABEL_SUFFIXES) or self.entity
        return re.sub(r"\s+(name|title)$", "", words) or self.entity


def _total_en(words: str) -> str:
    return words if re.search(r"\b(total|sum)\b", words) else f"total {words}"


def _plural(words: str) -> str:
    if words.endswith("s"):
        return words
    return words + ("es" if words.endswith(("ch", "sh", "x")) else "s")


def _where(*conditions: str | None) -> str:
    parts = [c for c in conditions if c]
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _year_range(column: str, year: int | None) -> str | None:
    if year is None:
        return None
    return f"{column} >= DATE '{year}-01-01' AND {column} < DATE '{year + 1}-01-01'"


def _alias(text: str, zh: bool) -> str:
    if zh:
        return quote_ident(text)
    return quote_ident(re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "value")


class _PairBuilder:
    """Collects candidate pairs of one kind, in the order they are proposed."""

    def __init__(self, zh: bool) -> None:
        self.zh = zh
        self.pairs: list[QAPair] = []

    def add(self, zh_question: str, en_question: str, sql: str) -> None:
        question = zh_question if self.zh else en_question
        self.pairs.append(QAPair(question=question, sql=sql.strip().rstrip(";") + ";"))


def _merge(groups: Sequence[tuple[list[QAPair], int]], count: int) -> list[QAPair]:
    """Weighted round-robin over candidate groups; a repeated question or SQL is skipped."""
    out: list[QAPair] = []
    questions: set[str] = set()
    statements: set[str] = set()
    cursors = [0] * len(groups)
    while len(out) < count and any(cursors[i] < len(g) for i, (g, _) in enumerate(groups)):
        for i, (group, weight) in enumerate(groups):
            taken = 0
            while taken < weight and cursors[i] < len(group) and len(out) < count:
                pair = group[cursors[i]]
                cursors[i] += 1
                if pair.question in questions or pair.sql in statements:
                    continue
                questions.add(pair.question)
                statements.add(pair.sql)
                out.append(pair)
                taken += 1
    return out


def _table_pairs(p: _Profile, b: _PairBuilder) -> None:
    """Single-table questions, most useful first."""
    zh = p.zh
    e = p.entity
    data_zh = f"{_topic_entity(p.table, zh)}数据"
    alive = p.alive()
    time_col = quote_ident(p.time.name) if p.time else None
    time_words = _column_words(p.time, zh) if p.time else ""
    label = p.label_for()
    year = p.year
    yr_zh = f"{year}年" if year else ""
    yr_en = f" in {year}" if year else ""
    in_year = _year_range(time_col, year) if time_col else None
    n_alias = _alias("数量" if zh else "record_count", zh)

    if p.is_fact and time_col:
        month = _alias("月份" if zh else "month", zh)
        day = _alias("日期" if zh else "day", zh)
        for rank, m in enumerate(p.measures[:4]):
            mw = p.measure_words(m)
            plain = _column_words(m, zh)  # aliases stay short
            tm = _total_en(mw)
            mcol = quote_ident(m.name)
            total = _alias(f"{plain}合计" if zh else _total_en(plain), zh)
            if label is not None:
                lw = p.label_words(label)
                lcol = quote_ident(label.name)
                b.add(f"各{lw}{yr_zh}的{mw}合计是多少？", f"What is the {tm} of each {lw}{yr_en}?",
                      f"SELECT {lcol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {lcol} ORDER BY {total} DESC NULLS LAST")
            b.add(f"{yr_zh}每月的{mw}合计是多少？", f"What is the monthly {tm}{yr_en}?",
                  f"SELECT date_trunc('month', {time_col})::date AS {month}, SUM({mcol}) AS {total} FROM {p.ref}"
                  f"{_where(in_year, alive)} GROUP BY {month} ORDER BY {month}")
            for cat in p.categories[:2]:
                c = p.category_words(cat)
                col = quote_ident(cat.name)
                b.add(f"{yr_zh}各{c}的{mw}合计分别是多少？", f"What is the {tm} per {c}{yr_en}?",
                      f"SELECT {col}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {col} ORDER BY {total} DESC NULLS LAST")
            if label is not None:
                lw = p.label_words(label)
                lcol = quote_ident(label.name)
                b.add(f"{yr_zh}{mw}最高的前10个{lw}是哪些？",
                      f"Which 10 {_plural(lw)} have the highest {tm}{yr_en}?",
                      f"SELECT {lcol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {lcol} ORDER BY {total} DESC NULLS LAST LIMIT 10")
            if rank > 1:
                continue
            for other in p.labels[1:2] if rank == 0 else ():
                ow = p.label_words(other)
                ocol = quote_ident(other.name)
                b.add(f"{yr_zh}{mw}最高的前10个{ow}是哪些？",
                      f"Which 10 {_plural(ow)} have the highest {tm}{yr_en}?",
                      f"SELECT {ocol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {ocol} ORDER BY {total} DESC NULLS LAST LIMIT 10")
            daily = _alias("当日合计" if zh else "daily_total", zh)
            avg = _alias(f"日均{plain}" if zh else f"daily_average_{plain}", zh)
            b.add(f"{yr_zh}日均{mw}是多少？", f"What is the average daily {mw}{yr_en}?",
                  f"SELECT ROUND(AVG({daily})::numeric, 2) AS {avg} FROM (SELECT {time_col}::date AS {day}, "
                  f"SUM({mcol}) AS {daily} FROM {p.ref}{_where(in_year, alive)} GROUP BY {time_col}::date) AS daily")
            for cat in p.categories[:1]:
                c = p.category_words(cat)
                col = quote_ident(cat.name)
                avg_alias = _alias(f"平均{plain}" if zh else f"average_{plain}", zh)
                b.add(f"各{c}的平均{mw}是多少？", f"What is the average {mw} per {c}?",
                      f"SELECT {col}, ROUND(AVG({mcol})::numeric, 2) AS {avg_alias} FROM {p.ref}{_where(alive)} "
                      f"GROUP BY {col} ORDER BY {avg_alias} DESC NULLS LAST")
                value = next((v for v in cat.enum_values or [] if _literal(v, cat) is not None), None)
                if value is not None:
                    condition = f"{col} = {_literal(value, cat)}"
                    b.add(f"{yr_zh}{c}为“{value}”的{mw}合计是多少？", f"What is the {tm} for {c} '{value}'{yr_en}?",
                          f"SELECT SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, condition, alive)}")
            b.add(f"最近一天（{time_words}最新的一天）的{mw}合计是多少？",
                  f"What is the {tm} on the latest {time_words}?",
                  f"SELECT {time_col}::date AS {day}, SUM({mcol}) AS {total} FROM {p.ref} WHERE {time_col}::date = "
                  f"(SELECT MAX({time_col})::date FROM {p.ref}){' AND ' + alive if alive else ''} "
                  f"GROUP BY {time_col}::date")
    else:
        if alive:
            b.add(f"目前有多少个有效的{e}（不含已删除）？",
                  f"How many active {e} records are there (excluding deleted)?",
                  f"SELECT COUNT(*) AS {_alias('有效' + e + '数量' if zh else 'active_count', zh)} FROM {p.ref}"
                  f"{_where(alive)}")
        else:
            b.add(f"一共有多少个{e}？", f"How many {e} records are there?",
                  f"SELECT COUNT(*) AS {_alias(e + '数量' if zh else 'record_count', zh)} FROM {p.ref}")
        for cat in p.categories[:3]:
            c = p.category_words(cat)
            col = quote_ident(cat.name)
            b.add(f"各{c}的{e}数量分别是多少？", f"How many {e} records are there per {c}?",
                  f"SELECT {col}, COUNT(*) AS {n_alias} FROM {p.ref}{_where(alive)} GROUP BY {col} "
                  f"ORDER BY {n_alias} DESC")
        for cat in p.categories[:2]:
            value = next((v for v in cat.enum_values or [] if _literal(v, cat) is not None), None)
            if value is None:
                continue
            c = p.category_words(cat)
            condition = f"{quote_ident(cat.name)} = {_literal(value, cat)}"
            b.add(f"{c}为“{value}”的{e}有多少个？", f"How many {e} records have {c} '{value}'?",
                  f"SELECT COUNT(*) AS {n_alias} FROM {p.ref}{_where(condition, alive)}")
        deleted = p.deleted()
        if deleted:
            b.add(f"已删除（逻辑删除）的{e}有多少个？", f"How many {e} records are logically deleted?",
                  f"SELECT COUNT(*) AS {_alias('已删除数量' if zh else 'deleted_count', zh)} FROM {p.ref} "
                  f"WHERE {deleted}")
        if time_col and year:
            month = _alias("月份" if zh else "month", zh)
            b.add(f"{year}年每月新增多少个{e}（按{time_words}）？",
                  f"How many {e} records were added per month in {year} (by {time_words})?",
                  f"SELECT date_trunc('month', {time_col})::date AS {month}, COUNT(*) AS {n_alias} FROM {p.ref}"
                  f"{_where(in_year)} GROUP BY {month} ORDER BY {month}")
    if time_col:
        first = _alias("最早" + time_words if zh else "first_" + time_words, zh)
        last = _alias("最晚" + time_words if zh else "last_" + time_words, zh)
        b.add(f"{data_zh}的{time_words}范围是从哪天到哪天？", f"What range of {time_words} does the {e} data cover?",
              f"SELECT MIN({time_col}) AS {first}, MAX({time_col}) AS {last} FROM {p.ref}")
    if p.is_fact:
        b.add(f"{data_zh}共有多少条记录？", f"How many {e} records are there?",
              f"SELECT COUNT(*) AS {_alias('记录数' if zh else 'record_count', zh)} FROM {p.ref}{_where(alive)}")


def _join_condition(fk: ForeignKey, child: str, parent: str) -> str:
    return " AND ".join(f"{child}.{quote_ident(c)} = {parent}.{quote_ident(r)}" for c, r in zip(fk.columns,
                                                                                               fk.ref_columns,
                                                                                               strict=False))


def _join_pairs(child: _Profile, fk: ForeignKey, parent: _Profile, b: _PairBuilder) -> None:
    """Questions that need the join along ``fk`` (child -> parent)."""
    label = parent.label_for()
    if label is None or not fk.ref_columns:
        return
    zh = child.zh
    pe = parent.entity
    lcol = f"p.{quote_ident(label.name)}"
    key_cols = ", ".join(f"p.{quote_ident(c)}" for c in fk.ref_columns)
    on = _join_condition(fk, "c", "p")
    parent_alive = parent.alive("p")
    child_alive = child.alive("c")
    active = "有效" if parent_alive else ""
    active_en = "active " if parent_alive else ""
    name_alias = _alias(pe, zh)
    if child.is_fact and child.time is not None:
        m = child.measures[0]
        mw = child.measure_words(m)
        plain = _column_words(m, zh)  # aliases stay short
        tm = _total_en(mw)
        total = _alias(f"{plain}合计" if zh else _total_en(plain), zh)
        time_col = f"c.{quote_ident(child.time.name)}"
        in_year = _year_range(time_col, child.year)
        yr_zh = f"{child.year}年" if child.year else ""
        yr_en = f" in {child.year}" if child.year else ""
        select = (f"SELECT {lcol} AS {name_alias}, SUM(c.{quote_ident(m.name)}) AS {total} FROM {child.ref} AS c "
                  f"JOIN {parent.ref} AS p ON {on}{_where(in_year, child_alive, parent_alive)} "
                  f"GROUP BY {key_cols}, {lcol} ORDER BY {total} DESC NULLS LAST")
        b.add(f"{yr_zh}各{active}{pe}的{mw}合计是多少？", f"What is the {tm} of each {active_en}{pe}{yr_en}?", select)
        b.add(f"{yr_zh}{mw}最高的5个{active}{pe}是哪些？", f"Which 5 {active_en}{pe} records have the highest {tm}"
              f"{yr_en}?", select + " LIMIT 5")
    else:
        n_alias = _alias(f"{child.entity}数量" if zh else "record_count", zh)
        b.add(f"各{active}{pe}分别有多少个{child.entity}？",
              f"How many {child.entity} records does each {active_en}{pe} have?",
              f"SELECT {lcol} AS {name_alias}, COUNT(*) AS {n_alias} FROM {child.ref} AS c JOIN {parent.ref} AS p "
              f"ON {on}{_where(child_alive, parent_alive)} GROUP BY {key_cols}, {lcol} ORDER BY {n_alias} DESC")
        for cat in child.categories[:1]:
            c = child.category_words(cat)
            ccol = f"c.{quote_ident(cat.name)}"
            b.add(f"各{active}{pe}下不同{c}的{child.entity}数量是多少？",
                  f"How many {child.entity} records of each {c} does each {active_en}{pe} have?",
                  f"SELECT {lcol} AS {name_alias}, {ccol}, COUNT(*) AS {n_alias} FROM {child.ref} AS c "
                  f"JOIN {parent.ref} AS p ON {on}{_where(child_alive, parent_alive)} "
                  f"GROUP BY {key_cols}, {lcol}, {ccol} ORDER BY {lcol}, {n_alias} DESC")


def _link_pairs(link: _Profile, profiles: dict[str, _Profile], b: _PairBuilder) -> None:
    """Many-to-many link tables: how many of one side each item of the other side has."""
    fks = [fk for fk in link.table.foreign_keys if _ref_key(fk) in profiles]
    for one, other in ((fks[0], fks[1]), (fks[1], fks[0])) if len(fks) >= 2 else ():
        a, o = profiles[_ref_key(one)], profiles[_ref_key(other)]
        label = a.label_for()
        if label is None or not one.ref_columns or not other.ref_columns:
            continue
        zh = link.zh
        lcol = f"a.{quote_ident(label.name)}"
        keys = ", ".join(f"a.{quote_ident(c)}" for c in one.ref_columns)
        n_alias = _alias(f"{o.entity}数量" if zh else "related_count", zh)
        name_alias = _alias(a.entity, zh)
        other_key = f"o.{quote_ident(other.ref_columns[0])}"
        b.add(f"每个{a.entity}关联了多少个{o.entity}？", f"How many {o.entity} records is each {a.entity} linked to?",
              f"SELECT {lcol} AS {name_alias}, COUNT(DISTINCT {other_key}) AS {n_alias} FROM {link.ref} AS l "
              f"JOIN {a.ref} AS a ON {_join_condition(one, 'l', 'a')} JOIN {o.ref} AS o ON "
              f"{_join_condition(other, 'l', 'o')}{_where(a.alive('a'), o.alive('o'))} GROUP BY {keys}, {lcol} "
              f"ORDER BY {n_alias} DESC")


def _profiles(tables: Sequence[TableInfo], zh: bool) -> dict[str, _Profile]:
    profiles = {_key(t): _Profile(t, zh) for t in tables}
    seen: dict[str, int] = {}
    for p in profiles.values():
        if p.is_fact:
            for phrase in {_column_words(m, zh) for m in p.measures}:
                seen[phrase] = seen.get(phrase, 0) + 1
    ambiguous = {phrase for phrase, n in seen.items() if n > 1}
    for p in profiles.values():
        p.ambiguous = ambiguous
    return profiles


def _ref_key(fk: ForeignKey) -> str:
    return f"{fk.ref_schema}.{fk.ref_table}"


def _key(table: TableInfo) -> str:
    return f"{table.schema_name}.{table.name}"


def _components(tables: Sequence[TableInfo]) -> list[list[TableInfo]]:
    """Groups of tables connected by foreign keys (in either direction), in table-list order."""
    keys = [_key(t) for t in tables]
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for table in tables:
        for fk in table.foreign_keys:
            target = _ref_key(fk)
            if target in parent and target != _key(table):
                parent[find(_key(table))] = find(target)
    groups: dict[str, list[TableInfo]] = {}
    for table in tables:
        groups.setdefault(find(_key(table)), []).append(table)
    return list(groups.values())


def _degree(table: TableInfo, tables: Sequence[TableInfo]) -> int:
    inside = {_key(t) for t in tables}
    outgoing = sum(1 for fk in table.foreign_keys if _ref_key(fk) in inside)
    incoming = sum(1 for t in tables for fk in t.foreign_keys if _ref_key(fk) == _key(table) and t is not table)
    return outgoing + incoming


def extract_themes_offline(tables: Sequence[TableInfo], business_context: str, count: int) -> list[Theme]:
    """One theme per fact table (with the tables it references), then one per group of related other tables."""
    zh = schema_is_chinese(tables, business_context)
    profiles = _profiles(tables, zh)
    facts = sorted((p for p in profiles.values() if p.is_fact),
                   key=lambda p: (-p.table.row_estimate, tables.index(p.table)))
    themes: list[Theme] = []
    for p in facts:
        refs = [p.table] + [profiles[_ref_key(fk)].table for fk in p.table.foreign_keys if _ref_key(fk) in profiles
                            and _ref_key(fk) != _key(p.table)]
        related = list(dict.fromkeys(t.ref.display for t in refs))
        measures = [_column_words(m, zh) for m in p.measures[:5]]  # theme metrics: the plain names
        dims = [profiles[_key(t)].entity for t in refs[1:]] + [_column_words(c, zh) for c in p.categories[:3]] + [
            p.label_words(c) for c in p.labels[:2]]
        topic_entity = _topic_entity(p.table, zh)
        time_words = _column_words(p.time, zh) if p.time else ""
        if zh:
            topic = f"{topic_entity}分析"
            description = (f"基于{p.ref}（{p.entity}）按{time_words}统计{'、'.join(measures[:3])}的趋势、排名与构成"
                           + (f"，可按{'、'.join(dict.fromkeys(dims[:4]))}对比" if dims else "") + "。")
        else:
            topic = f"{topic_entity[:1].upper()}{topic_entity[1:]} analysis"
            description = (f"Trends, rankings and breakdowns of {', '.join(measures[:3])} in {p.ref} ({p.entity}) by "
                           f"{time_words}" + (f", compared across {', '.join(dict.fromkeys(dims[:4]))}" if dims else "")
                           + ".")
        themes.append(Theme(topic=topic, description=description, related_tables=related,
                            business_entities=list(dict.fromkeys([p.entity, *dims]))[:6],
                            metrics=measures or ["记录数" if zh else "record count"]))
    fact_keys = {_key(p.table) for p in facts}
    for group in _components(tables):
        others = [t for t in group if _key(t) not in fact_keys]
        if not others:
            continue
        ordered = sorted(others, key=lambda t: (-_degree(t, group), group.index(t)))
        entities = list(dict.fromkeys(profiles[_key(t)].entity for t in ordered if not profiles[_key(t)].is_link))
        entities = entities or [profiles[_key(ordered[0])].entity]
        cats = [_column_words(c, zh) for t in ordered for c in profiles[_key(t)].categories[:2]]
        if zh:
            topic = f"{'、'.join(entities[:3])}基础信息"
            description = (f"{'、'.join(entities)}的数量、分布与相互关联" + (f"，按{'、'.join(cats[:4])}等维度统计"
                                                                             if cats else "") + "。")
            metrics = [f"{e}数量" for e in entities[:4]]
        else:
            topic = f"{', '.join(entities[:3])} master data"
            topic = topic[:1].upper() + topic[1:]
            description = (f"Counts, distribution and relationships of {', '.join(entities)}"
                           + (f", broken down by {', '.join(cats[:4])}" if cats else "") + ".")
            metrics = [f"number of {e} records" for e in entities[:4]]
        themes.append(Theme(topic=topic, description=description, related_tables=[t.ref.display for t in ordered],
                            business_entities=list(dict.fromkeys(entities + cats))[:8], metrics=metrics))
    return themes[:count]


def generate_pairs_offline(theme: Theme, tables: Sequence[TableInfo], business_context: str,
                           count: int) -> list[QAPair]:
    """Pairs for the theme's tables: the main table's questions first, mixed with joins and the other tables."""
    zh = schema_is_chinese(tables, business_context)
    profiles = _profiles(tables, zh)
    by_display = {t.ref.display: _key(t) for t in tables}
    by_display.update({t.name: _key(t) for t in tables if t.name not in by_display})
    members = [profiles[by_display[name]] for name in theme.related_tables if name in by_display]
    if not members:
        return []
    member_keys = {_key(p.table) for p in members}
    joins = _PairBuilder(zh)
    for p in members:
        if p.is_link:
            _link_pairs(p, profiles, joins)
            continue
        for fk in p.table.foreign_keys:
            target = profiles.get(_ref_key(fk))
            if target is not None and target is not p and (_ref_key(fk) in member_keys or p.is_fact):
                _join_pairs(p, fk, target, joins)
    # rows of tables outside the theme that point at its tables (e.g. the branches of a service area)
    for p in members if not members[0].is_fact else ():
        for other in profiles.values():
            if _key(other.table) in member_keys or other.is_fact or other.is_link:
                continue
            for fk in other.table.foreign_keys:
                if _ref_key(fk) == _key(p.table):
                    _join_pairs(other, fk, p, joins)
    groups: list[tuple[list[QAPair], int]] = []
    for index, p in enumerate(members):
        if p.is_link or (index > 0 and members[0].is_fact and not p.is_fact):
            continue  # a fact theme asks about its dimension tables through the joins only
        own = _PairBuilder(zh)
        _table_pairs(p, own)
        groups.append((own.pairs, 2 if index == 0 else 1))
        if index == 0:
            groups.append((joins.pairs, 1))
    if not any(g is joins.pairs for g, _ in groups):
        groups.append((joins.pairs, 1))
    return _merge(groups, count)


class OfflineGenerator:
    """Deterministic generator used when no LLM is configured; implements ``generator.Generator``."""

    name = "offline"
    concurrency = 1

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        return describe_table_offline(table, business_context)

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        return extract_themes_offline(tables, business_context, count)

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        return generate_pairs_offline(theme, tables, business_context, count)

    def repair_sql(self, items: Sequence[RepairRequest], documents: Sequence[str]) -> list[str | None]:
        return [None for _ in items]
