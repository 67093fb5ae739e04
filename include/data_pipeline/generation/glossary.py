"""The dictionary behind readable names: identifier tokens with their Chinese and English words.

Kept as one plain-text table so adding a word is a one-line change; ``naming`` does the matching.
"""

from __future__ import annotations

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


WORDS = _parse_word_table(_WORD_TABLE)

# Table-name prefixes that carry no business meaning (``t_user``, ``ods_order``, ``bss_company``).
TABLE_PREFIXES = {"t", "tb", "tbl", "table", "bss", "ods", "dwd", "dws", "dim", "ads", "dwa", "tmp", "sys"}
