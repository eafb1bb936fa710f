"""Write eval/fresh2_questions.jsonl: the questions of the second fresh held-out set (128, half
English, half Chinese).

Written after the rules of issue 12c (the question's computation said in words; a pass's chain
uses every number the question gives), without reading any trace again, for one purpose: real
model output that neither the checks nor those rules were built from. Its themes are not the
fresh set's (units and rates, clock times, discounts, equations, systems, comparisons, yes/no):
money and change, ratios and sharing, number patterns, shapes (angles, perimeters, volumes),
counting (rows and seats, pages, days), signed numbers (temperatures, floors, sea level),
remainders and rounding, and computations said in words other than the fresh set's.

Each gold value is the exact value of the solution written beside the question (a Python
expression on Fractions), never typed as a result. The kind is in `rung`, so `thinkstream eval`
reports accuracy per kind. No traces exist for it yet: eval/README.md says how to collect and
label them, and `bench/checker_precision.py` measures it as "fresh2 (unseen)" once they exist.

Deterministic: `.venv/bin/python eval/make_fresh2.py` always writes the same file.
"""

from __future__ import annotations

import json
from fractions import Fraction as F
from pathlib import Path

OUT = Path(__file__).parent / "fresh2_questions.jsonl"

Row = dict[str, object]


def gold(value: F | int) -> str:
    value = F(value)
    if value.denominator == 1:
        return str(value.numerator)
    decimal = value.numerator / value.denominator
    if F(str(decimal)) == value:
        return str(decimal)
    return f"{value.numerator}/{value.denominator}"


# (kind, question, gold values)
EN: list[tuple[str, str, list[F | int]]] = [
    # --- money and change
    (
        "money",
        "A sandwich costs $4.75 and a juice costs $1.80. How much change do you get from $10?",
        [10 - F("4.75") - F("1.8")],
    ),
    ("money", "Rosa buys 3 notebooks at $2.40 each. How much does she pay?", [3 * F("2.4")]),
    ("money", "A bus ticket costs $2.25. How much do 8 tickets cost?", [8 * F("2.25")]),
    ("money", "Ivan has 6 coins of 25 cents and 4 coins of 10 cents. How many cents does he have?", [6 * 25 + 4 * 10]),
    ("money", "A pack of 5 pens costs $3.50. How much does one pen cost?", [F("3.5") / 5]),
    ("money", "Leo pays for a $13.60 meal with a $20 note. How much change does he get?", [20 - F("13.6")]),
    (
        "money",
        "Apples cost 60 cents each or 5 for $2.50. How many cents do you save buying 5 at the bundle price?",
        [5 * 60 - 250],
    ),
    (
        "money",
        "A shop charges $3 for delivery plus $1.50 per kilogram. What does a 6 kg parcel cost?",
        [3 + 6 * F("1.5")],
    ),
    # --- ratios and sharing
    ("ratio", "Share 45 marbles between Ada and Ben in the ratio 2 : 3. How many does Ben get?", [F(45 * 3, 5)]),
    (
        "ratio",
        "A drink is mixed 1 part syrup to 4 parts water. How much water goes with 150 ml of syrup, in ml?",
        [150 * 4],
    ),
    ("ratio", "There are 3 boys for every 5 girls in a club of 40 children. How many girls are there?", [F(40 * 5, 8)]),
    ("ratio", "A map uses 1 cm for 5 km. Two towns are 7 cm apart on the map. How many km apart are they?", [7 * 5]),
    (
        "ratio",
        "Paint is mixed blue to white in the ratio 3 : 2. How much blue is needed for 20 litres of paint?",
        [F(20 * 3, 5)],
    ),
    ("ratio", "If 4 workers build a wall in 6 days, how many days do 8 workers need at the same rate?", [F(4 * 6, 8)]),
    ("ratio", "A recipe for 4 people uses 300 g of pasta. How many grams are needed for 10 people?", [F(300, 4) * 10]),
    ("ratio", "Three friends share $84 so that each gets the same. How much does each get?", [F(84, 3)]),
    # --- number patterns
    ("pattern", "What is the next number: 3, 7, 11, 15, ...?", [15 + 4]),
    ("pattern", "What is the next number in the pattern 2, 6, 18, 54, ...?", [54 * 3]),
    ("pattern", "The sequence 5, 10, 15, ... goes up by 5 each time. What is its 12th term?", [5 * 12]),
    ("pattern", "What is the next number: 81, 27, 9, 3, ...?", [F(3, 3)]),
    ("pattern", "What is the sum of the first 10 whole numbers, 1 + 2 + ... + 10?", [sum(range(1, 11))]),
    ("pattern", "What is the next number: 1, 4, 9, 16, 25, ...?", [6**2]),
    (
        "pattern",
        "A stack has 1 cup on top, 2 below it, 3 below that, down to 8 on the bottom row. How many cups in all?",
        [sum(range(1, 9))],
    ),
    ("pattern", "What is the missing number: 4, 8, ?, 16, 20?", [12]),
    # --- shapes
    (
        "shape",
        "Two angles of a triangle are 50 degrees and 75 degrees. What is the third angle in degrees?",
        [180 - 50 - 75],
    ),
    ("shape", "A triangle has sides 7 cm, 9 cm and 12 cm. What is its perimeter in cm?", [7 + 9 + 12]),
    ("shape", "A box is 5 cm long, 4 cm wide and 3 cm high. What is its volume in cubic cm?", [5 * 4 * 3]),
    ("shape", "A regular hexagon has sides of 6 m. What is its perimeter in metres?", [6 * 6]),
    ("shape", "A rectangle has a perimeter of 30 cm and a length of 9 cm. What is its width in cm?", [F(30, 2) - 9]),
    ("shape", "A right triangle has legs of 6 cm and 8 cm. What is its area in square cm?", [F(6 * 8, 2)]),
    ("shape", "A cube has edges of 4 cm. What is its volume in cubic cm?", [4**3]),
    ("shape", "A square has an area of 49 square metres. How long is one side, in metres?", [7]),
    # --- counting
    ("counting", "A hall has 14 rows of 22 seats. How many seats are there?", [14 * 22]),
    ("counting", "How many days are there from March 3 to March 17, counting both days?", [17 - 3 + 1]),
    (
        "counting",
        "A fence is 40 m long with a post every 5 m, including both ends. How many posts are there?",
        [F(40, 5) + 1],
    ),
    ("counting", "Pages 12 to 30 of a book are torn out. How many pages is that, counting both?", [30 - 12 + 1]),
    ("counting", "A team plays each of 6 other teams twice. How many games does it play?", [6 * 2]),
    ("counting", "A week has 7 days. How many days are in 9 weeks and 4 days?", [9 * 7 + 4]),
    (
        "counting",
        "A printer prints 18 pages a minute. How many pages does it print in a quarter of an hour?",
        [18 * 15],
    ),
    ("counting", "An egg carton holds 12 eggs. How many cartons do 150 eggs fill completely?", [150 // 12]),
    # --- signed numbers
    ("signed", "The temperature is -4 degrees and rises by 11 degrees. What is it now?", [-4 + 11]),
    (
        "signed",
        "A diver is 18 m below sea level and rises 7 m. How far below sea level is she now, in metres?",
        [18 - 7],
    ),
    ("signed", "A lift starts at floor 3, goes up 9 floors, then down 5. Which floor is it on?", [3 + 9 - 5]),
    ("signed", "At night it was -7 degrees and at noon 5 degrees. By how many degrees did it warm up?", [5 - (-7)]),
    ("signed", "What is -12 + 30?", [-12 + 30]),
    ("signed", "A bank balance is -$25. After a deposit of $60, what is the balance in dollars?", [-25 + 60]),
    ("signed", "What is 8 - 15?", [8 - 15]),
    (
        "signed",
        "A submarine at -120 m dives another 45 m. What is its depth now, in metres (as a negative number)?",
        [-120 - 45],
    ),
    # --- remainders and rounding
    ("rounding", "What is the remainder when 47 is divided by 6?", [47 % 6]),
    ("rounding", "Round 3,468 to the nearest hundred.", [3500]),
    ("rounding", "Round 7.86 to one decimal place.", [F("7.9")]),
    ("rounding", "65 children travel in vans of 8 seats. How many vans are needed?", [-(-65 // 8)]),
    ("rounding", "What is the remainder when 100 is divided by 7?", [100 % 7]),
    ("rounding", "Round 0.649 to the nearest hundredth.", [F("0.65")]),
    ("rounding", "A rope of 50 m is cut into pieces of 6 m. How many metres are left over?", [50 % 6]),
    ("rounding", "Round 12,750 to the nearest thousand.", [13000]),
    # --- computations said in words (other words than the fresh set's)
    ("words", "What is 7 fewer than 50?", [50 - 7]),
    ("words", "Find the quotient of 84 and 7.", [F(84, 7)]),
    ("words", "What is the difference between 93 and 38?", [93 - 38]),
    ("words", "Double 47. What do you get?", [2 * 47]),
    ("words", "What is 12 cubed?", [12**3]),
    ("words", "Multiply 14 by 6.", [14 * 6]),
    ("words", "What is 15 less than 100?", [100 - 15]),
    ("words", "Add 256 to 119.", [256 + 119]),
]

ZH: list[tuple[str, str, list[F | int]]] = [
    # --- 钱与找零
    ("money", "一个面包4.5元，一瓶牛奶3.8元，付10元应找回多少元？", [10 - F("4.5") - F("3.8")]),
    ("money", "一支铅笔1.2元，买5支要多少元？", [5 * F("1.2")]),
    ("money", "小东有5张10元和3张5元，一共有多少元？", [5 * 10 + 3 * 5]),
    ("money", "一盒6个鸡蛋卖9元，一个鸡蛋多少元？", [F(9, 6)]),
    ("money", "买一件26.5元的玩具，付了50元，找回多少元？", [50 - F("26.5")]),
    ("money", "快递首重收8元，每多1千克加2元。寄一个重5千克的包裹（首重1千克）要多少元？", [8 + (5 - 1) * 2]),
    ("money", "一本练习本2.5元，小芳买了4本，还剩5元，她原来有多少元？", [4 * F("2.5") + 5]),
    ("money", "单买一瓶水2元，一箱24瓶卖40元，买一箱比单买24瓶便宜多少元？", [24 * 2 - 40]),
    # --- 比与分配
    ("ratio", "把56颗糖按3:4分给甲和乙，乙分到多少颗？", [F(56 * 4, 7)]),
    ("ratio", "糖和水的比是1:9，100克糖水里有多少克糖？", [F(100, 10)]),
    ("ratio", "地图上1厘米表示20千米，两地图上相距6厘米，实际相距多少千米？", [6 * 20]),
    ("ratio", "班里男生和女生的人数比是4:5，全班36人，女生有多少人？", [F(36 * 5, 9)]),
    ("ratio", "3个工人5天完成一项工程，同样的效率，5个工人要几天？", [F(3 * 5, 5)]),
    ("ratio", "做4个蛋糕用面粉600克，做6个蛋糕要多少克？", [F(600, 4) * 6]),
    ("ratio", "72本书平均分给4个班，每班分到多少本？", [F(72, 4)]),
    ("ratio", "一种饮料由果汁和水按2:3调成，要调500毫升，需要果汁多少毫升？", [F(500 * 2, 5)]),
    # --- 找规律
    ("pattern", "找规律填数：2，5，8，11，（ ）", [11 + 3]),
    ("pattern", "找规律：1，3，9，27，下一个数是多少？", [27 * 3]),
    ("pattern", "数列4，8，12，……每次加4，第15个数是多少？", [4 * 15]),
    ("pattern", "64，32，16，8，下一个数是多少？", [F(8, 2)]),
    ("pattern", "1 + 2 + 3 + … + 20 等于多少？", [sum(range(1, 21))]),
    ("pattern", "找规律：1，4，9，16，下一个数是多少？", [5**2]),
    ("pattern", "一堆钢管，最上层1根，每往下一层多1根，最下层6根，一共多少根？", [sum(range(1, 7))]),
    ("pattern", "找规律填数：10，20，（ ），40，50", [30]),
    # --- 图形
    ("shape", "三角形的两个角分别是40度和65度，第三个角是多少度？", [180 - 40 - 65]),
    ("shape", "一个三角形三条边分别长5厘米、6厘米、8厘米，周长是多少厘米？", [5 + 6 + 8]),
    ("shape", "一个长方体长6分米，宽4分米，高5分米，体积是多少立方分米？", [6 * 4 * 5]),
    ("shape", "正五边形每条边长8米，周长是多少米？", [5 * 8]),
    ("shape", "长方形周长是26厘米，长是8厘米，宽是多少厘米？", [F(26, 2) - 8]),
    ("shape", "直角三角形两条直角边分别是5厘米和12厘米，面积是多少平方厘米？", [F(5 * 12, 2)]),
    ("shape", "正方体的棱长是3厘米，体积是多少立方厘米？", [3**3]),
    ("shape", "正方形的面积是81平方米，边长是多少米？", [9]),
    # --- 计数
    ("counting", "礼堂有16排座位，每排25个，一共多少个座位？", [16 * 25]),
    ("counting", "从5月6日到5月20日（包括两头），一共多少天？", [20 - 6 + 1]),
    ("counting", "一条路长60米，每隔6米种一棵树，两端都种，一共种多少棵？", [F(60, 6) + 1]),
    ("counting", "一本书从第15页读到第40页（包括两页），一共读了多少页？", [40 - 15 + 1]),
    ("counting", "一个队要和另外5个队各比赛2场，一共比赛多少场？", [5 * 2]),
    ("counting", "8周零3天一共是多少天？", [8 * 7 + 3]),
    ("counting", "打字员每分钟打60个字，半小时能打多少个字？", [60 * 30]),
    ("counting", "每盒装8个月饼，100个月饼最多能装满几盒？", [100 // 8]),
    # --- 正负数
    ("signed", "早上气温是-5度，中午升高了12度，中午气温是多少度？", [-5 + 12]),
    ("signed", "潜水员在海平面以下20米，上升了8米，现在在海平面以下多少米？", [20 - 8]),
    ("signed", "电梯从4楼上升10层，再下降6层，停在几楼？", [4 + 10 - 6]),
    ("signed", "夜里气温-8度，白天最高3度，温差是多少度？", [3 - (-8)]),
    ("signed", "计算：-15 + 40", [-15 + 40]),
    ("signed", "银行卡余额是-30元，存入100元后，余额是多少元？", [-30 + 100]),
    ("signed", "9 - 17 等于多少？", [9 - 17]),
    ("signed", "一艘潜艇在-150米处，又下潜了30米，现在在多少米处（用负数表示）？", [-150 - 30]),
    # --- 余数与近似
    ("rounding", "53除以8，余数是多少？", [53 % 8]),
    ("rounding", "把4,372四舍五入到百位是多少？", [4400]),
    ("rounding", "把6.35保留一位小数（四舍五入）是多少？", [F("6.4")]),
    ("rounding", "有43人去划船，每条船坐6人，至少需要几条船？", [-(-43 // 6)]),
    ("rounding", "200除以9，余数是多少？", [200 % 9]),
    ("rounding", "把0.276四舍五入到百分位是多少？", [F("0.28")]),
    ("rounding", "一根70厘米的绳子剪成每段8厘米，最多剪几段后还剩多少厘米？只回答剩下的厘米数。", [70 % 8]),
    ("rounding", "把25,490四舍五入到千位是多少？", [25000]),
    # --- 文字表述的计算
    ("words", "比50少7的数是多少？", [50 - 7]),
    ("words", "84与7的商是多少？", [F(84, 7)]),
    ("words", "93与38的差是多少？", [93 - 38]),
    ("words", "47的2倍是多少？", [2 * 47]),
    ("words", "12的立方是多少？", [12**3]),
    ("words", "14乘以6等于多少？", [14 * 6]),
    ("words", "100比15多多少？", [100 - 15]),
    ("words", "256加上119等于多少？", [256 + 119]),
]


def fresh2() -> list[Row]:
    rows: list[Row] = []
    for lang, table in (("en", EN), ("zh", ZH)):
        for i, (kind, question, values) in enumerate(table):
            rows.append(
                {
                    "id": f"g-{lang}-{i:02d}",
                    "lang": lang,
                    "rung": kind,
                    "question": question,
                    "gold": [gold(v) for v in values],
                }
            )
    return rows


def main() -> None:
    rows = fresh2()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {OUT}")


if __name__ == "__main__":
    main()
