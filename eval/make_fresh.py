"""Write eval/fresh_questions.jsonl: the questions of the fresh held-out set (128, half English,
half Chinese).

Written after the checks were frozen (commit e45f27d), for one purpose: real model output the
checks were never tuned on. They are not the ladder's templates: other phrasings ("Subtract 19
from 64", "86的一半是多少", "How many is three dozen?"), units and rates, clock times, percentages
and fractions in words, word problems of several steps, single equations, equation systems
(named unknowns, 甲乙, 鸡兔), comparisons between two names, and yes/no questions.

Each gold value is the exact value of the solution written beside the question (a Python
expression on Fractions), never typed as a result. Kinds (in `rung`, so `thinkstream eval`
reports accuracy per kind): arithmetic, units, word,
equation, system, comparison, yesno.

Deterministic: `.venv/bin/python eval/make_fresh.py` always writes the same file.
"""

from __future__ import annotations

import json
from fractions import Fraction as F
from pathlib import Path

OUT = Path(__file__).parent / "fresh_questions.jsonl"

Row = dict[str, object]


def gold(value: F | int | str) -> str:
    if isinstance(value, str):
        return value  # a clock time, yes/no or a name
    value = F(value)
    if value.denominator == 1:
        return str(value.numerator)
    decimal = value.numerator / value.denominator
    if F(str(decimal)) == value:
        return str(decimal)  # 7.75, 0.875: written as the decimal they are
    return f"{value.numerator}/{value.denominator}"


def clock(start_h: int, start_m: int, minutes: int) -> str:
    total = start_h * 60 + start_m + minutes
    return f"{total // 60 % 24}:{total % 60:02d}"


# (kind, question, gold values, extra fields)
EN: list[tuple[str, str, list[F | int | str], Row]] = [
    # --- arithmetic, phrased as people ask
    ("arithmetic", "How much is 15 plus 27?", [15 + 27], {}),
    ("arithmetic", "Add 38 and 45.", [38 + 45], {}),
    ("arithmetic", "Subtract 19 from 64.", [64 - 19], {}),
    ("arithmetic", "What do you get if you multiply 9 by 8?", [9 * 8], {}),
    ("arithmetic", "Divide 144 by 12.", [F(144, 12)], {}),
    ("arithmetic", "What is half of 86?", [F(86, 2)], {}),
    ("arithmetic", "What is 25% of 240?", [F(25, 100) * 240], {}),
    ("arithmetic", "Compute 3.5 + 4.25.", [F("3.5") + F("4.25")], {}),
    ("arithmetic", "Write 7/8 as a decimal.", [F(7, 8)], {}),
    ("arithmetic", "What is 2 to the power of 6?", [2**6], {}),
    ("arithmetic", "What is the square of 13?", [13**2], {}),
    ("arithmetic", "Take 100 away from 250. What is left?", [250 - 100], {}),
    ("arithmetic", "What is the product of 6 and 15?", [6 * 15], {}),
    ("arithmetic", "What is the sum of 123 and 77?", [123 + 77], {}),
    ("arithmetic", "How many is three dozen?", [3 * 12], {}),
    ("arithmetic", "What is 0.2 times 45?", [F("0.2") * 45], {}),
    # --- units and rates
    ("units", "A train travels at 80 km per hour for 3 hours. How far does it go, in km?", [80 * 3], {}),
    ("units", "Lily reads 24 pages a day. How many pages does she read in one week?", [24 * 7], {}),
    ("units", "A rectangle is 12 cm long and 5 cm wide. What is its area in square centimetres?", [12 * 5], {}),
    ("units", "A square garden has sides of 9 m. What is its perimeter in metres?", [4 * 9], {}),
    ("units", "A movie starts at 7:45 and lasts 95 minutes. At what time does it end?", [clock(7, 45, 95)], {}),
    ("units", "Mark earns $15 an hour. How much does he earn in an 8-hour shift?", [15 * 8], {}),
    ("units", "A bottle holds 1.5 litres. How many millilitres is that?", [F("1.5") * 1000], {}),
    ("units", "A cyclist rides 45 km in 3 hours. What is her average speed in km/h?", [F(45, 3)], {}),
    ("units", "One kilogram of rice costs 4.50 dollars. How much do 6 kilograms cost?", [F("4.5") * 6], {}),
    ("units", "A tank holds 200 litres and is 35% full. How many litres are in it?", [200 * F(35, 100)], {}),
    ("units", "A recipe needs 250 g of flour per cake. How many grams are needed for 4 cakes?", [250 * 4], {}),
    (
        "units",
        "It is 14 degrees in the morning and 6 degrees warmer at noon. How warm is it at noon?",
        [14 + 6],
        {},
    ),
    # --- word problems of several steps
    ("word", "A baker makes 4 trays of 12 muffins and sells 30 of them. How many muffins are left?", [4 * 12 - 30], {}),
    (
        "word",
        "Tickets cost $8 for adults and $5 for children. What do 2 adults and 3 children pay in total?",
        [2 * 8 + 3 * 5],
        {},
    ),
    ("word", "A jacket costs $60 and is discounted by 15%. What is the new price in dollars?", [60 * F(85, 100)], {}),
    ("word", "Ana ate 2/5 of a pizza cut into 20 slices. How many slices did she eat?", [F(2, 5) * 20], {}),
    (
        "word",
        "Sam has 3 times as many stamps as Lee. Lee has 14 stamps. How many stamps do they have together?",
        [14 + 3 * 14],
        {},
    ),
    ("word", "A class of 28 students splits into teams of 4. How many teams are there?", [F(28, 4)], {}),
    (
        "word",
        "Jenny saved $12 each week for 9 weeks and then spent $47. How much does she have left?",
        [12 * 9 - 47],
        {},
    ),
    (
        "word",
        "A farmer has 45 cows. He sells one third of them and buys 8 more. How many cows does he have now?",
        [45 - F(45, 3) + 8],
        {},
    ),
    (
        "word",
        "A book has 240 pages. Tom has read 3/8 of it. How many pages are left to read?",
        [240 - F(3, 8) * 240],
        {},
    ),
    (
        "word",
        "Pencils come in boxes of 10. A school needs 253 pencils. How many boxes must it buy?",
        [-(-253 // 10)],
        {},
    ),
    (
        "word",
        "The average of three numbers is 15. Two of them are 12 and 20. What is the third?",
        [3 * 15 - 12 - 20],
        {},
    ),
    ("word", "A phone costs $300 after a 25% discount. What was the original price?", [300 / F(75, 100)], {}),
    ("word", "Kim is 4 years older than her brother. The sum of their ages is 30. How old is Kim?", [F(30 + 4, 2)], {}),
    (
        "word",
        "A shop sold 125 ice creams on Saturday and twice as many on Sunday. How many did it sell over the weekend?",
        [125 + 2 * 125],
        {},
    ),
    # --- one equation
    ("equation", "If 5n - 3 = 22, what is n?", [F(22 + 3, 5)], {}),
    ("equation", "A number doubled, plus 7, gives 31. What is the number?", [F(31 - 7, 2)], {}),
    ("equation", "Solve 4(x - 2) = 20.", [F(20, 4) + 2], {}),
    ("equation", "What value of y makes y/3 + 2 = 9 true?", [(9 - 2) * 3], {}),
    (
        "equation",
        "I think of a number, subtract 6 and multiply by 5. The result is 45. What was my number?",
        [F(45, 5) + 6],
        {},
    ),
    ("equation", "Find t if 7t = 3t + 28.", [F(28, 7 - 3)], {}),
    # --- equation systems
    ("system", "Find x and y if x + y = 12 and x - y = 2.", [F(12 + 2, 2), F(12 - 2, 2)], {"note": "x, y"}),
    (
        "system",
        "Solve the system 2a + b = 11 and a - b = 1. What are a and b?",
        [F(11 + 1, 3), F(11 + 1, 3) - 1],
        {"note": "a, b"},
    ),
    (
        "system",
        "The sum of two numbers is 50 and one is 8 more than the other. Find both numbers.",
        [F(50 + 8, 2), F(50 - 8, 2)],
        {"note": "larger, smaller", "unordered": True},
    ),
    (
        "system",
        "A store sells pens for $2 and notebooks for $5. Jo bought 7 items for $26. "
        "How many pens and how many notebooks did she buy?",
        # p + n = 7, 2p + 5n = 26: 3n = 26 - 14
        [7 - F(26 - 2 * 7, 3), F(26 - 2 * 7, 3)],
        {"note": "pens, notebooks"},
    ),
    (
        "system",
        "In a parking lot there are cars and motorbikes: 18 vehicles and 56 wheels. "
        "How many cars and how many motorbikes are there?",
        # c + m = 18, 4c + 2m = 56: 2c = 56 - 36
        [F(56 - 2 * 18, 2), 18 - F(56 - 2 * 18, 2)],
        {"note": "cars, motorbikes"},
    ),
    (
        "system",
        "Adult tickets cost $10 and child tickets $6. 20 tickets were sold for $164. "
        "How many adult tickets and how many child tickets were sold?",
        # a + c = 20, 10a + 6c = 164: 4a = 164 - 120
        [F(164 - 6 * 20, 4), 20 - F(164 - 6 * 20, 4)],
        {"note": "adult, child"},
    ),
    # --- comparisons between two names
    (
        "comparison",
        "Sara ran 5 km and Tom ran 4800 m. Who ran farther, Sara or Tom?",
        ["Sara" if 5000 > 4800 else "Tom"],
        {"choices": ["Sara", "Tom"]},
    ),
    (
        "comparison",
        "Mia's box holds 3 bags of 4 kg and Leo's box holds 2 bags of 7 kg. Whose box is heavier, Mia or Leo?",
        ["Mia" if 3 * 4 > 2 * 7 else "Leo"],
        {"choices": ["Mia", "Leo"]},
    ),
    (
        "comparison",
        "Alma sells 6 eggs for $3 and Bruno sells 10 eggs for $4.50. Who is cheaper per egg, Alma or Bruno?",
        ["Alma" if F(3, 6) < F("4.5") / 10 else "Bruno"],
        {"choices": ["Alma", "Bruno"]},
    ),
    (
        "comparison",
        "Ella drives 150 km in 2 hours and Omar drives 200 km in 2.5 hours. Who drives faster, Ella or Omar?",
        ["Ella" if F(150, 2) > 200 / F("2.5") else "Omar"],
        {"choices": ["Ella", "Omar"]},
    ),
    (
        "comparison",
        "Nina has 5 coins of 20 cents and Raj has 3 coins of 50 cents. Who has more money, Nina or Raj?",
        ["Nina" if 5 * 20 > 3 * 50 else "Raj"],
        {"choices": ["Nina", "Raj"]},
    ),
    # --- yes or no
    ("yesno", "Is 91 a prime number?", ["yes" if all(91 % d for d in range(2, 91)) else "no"], {}),
    ("yesno", "Is 144 a perfect square?", ["yes" if 12 * 12 == 144 else "no"], {}),
    ("yesno", "Is 3/4 greater than 0.7?", ["yes" if F(3, 4) > F("0.7") else "no"], {}),
    (
        "yesno",
        "Can 23 candies be shared equally among 5 children with none left over?",
        ["yes" if 23 % 5 == 0 else "no"],
        {},
    ),
    ("yesno", "Does a week have more than 160 hours?", ["yes" if 7 * 24 > 160 else "no"], {}),
]

ZH: list[tuple[str, str, list[F | int | str], Row]] = [
    # --- 计算
    ("arithmetic", "15加27是多少？", [15 + 27], {}),
    ("arithmetic", "64减去19等于几？", [64 - 19], {}),
    ("arithmetic", "9乘8得多少？", [9 * 8], {}),
    ("arithmetic", "144除以12等于多少？", [F(144, 12)], {}),
    ("arithmetic", "86的一半是多少？", [F(86, 2)], {}),
    ("arithmetic", "240的25%是多少？", [240 * F(25, 100)], {}),
    ("arithmetic", "三十六加四十五等于多少？", [36 + 45], {}),
    ("arithmetic", "计算：3.5 + 4.25", [F("3.5") + F("4.25")], {}),
    ("arithmetic", "把八分之七写成小数。", [F(7, 8)], {}),
    ("arithmetic", "2的6次方是多少？", [2**6], {}),
    ("arithmetic", "13的平方是多少？", [13**2], {}),
    ("arithmetic", "6和15的积是多少？", [6 * 15], {}),
    ("arithmetic", "123与77的和是多少？", [123 + 77], {}),
    ("arithmetic", "100比250少多少？", [250 - 100], {}),
    ("arithmetic", "0.2乘45等于多少？", [F("0.2") * 45], {}),
    ("arithmetic", "七十二除以八等于几？", [F(72, 8)], {}),
    # --- 单位与速度
    ("units", "一辆汽车每小时行驶60千米，4小时行驶多少千米？", [60 * 4], {}),
    ("units", "妈妈买了3千克苹果，每千克8元，一共花了多少元？", [3 * 8], {}),
    ("units", "一个长方形长8米，宽5米，面积是多少平方米？", [8 * 5], {}),
    ("units", "一个正方形的边长是7厘米，它的周长是多少厘米？", [4 * 7], {}),
    ("units", "电影8:30开始，放映了110分钟，几点结束？", [clock(8, 30, 110)], {}),
    ("units", "小王每小时工资20元，工作了6小时，能拿多少元？", [20 * 6], {}),
    ("units", "2.5千克等于多少克？", [F("2.5") * 1000], {}),
    ("units", "小张骑车3小时行了36千米，平均每小时行多少千米？", [F(36, 3)], {}),
    ("units", "一个水池能装300升水，现在装了40%，装了多少升？", [300 * F(40, 100)], {}),
    ("units", "每袋面粉重25千克，8袋面粉重多少千克？", [25 * 8], {}),
    ("units", "早上气温是12度，中午比早上高9度，中午气温是多少度？", [12 + 9], {}),
    ("units", "一本书每天看15页，看了6天，一共看了多少页？", [15 * 6], {}),
    # --- 应用题
    ("word", "商店有45个西瓜，上午卖了18个，下午又运来20个，现在有多少个西瓜？", [45 - 18 + 20], {}),
    ("word", "成人票每张10元，儿童票每张6元。2个大人和3个小孩一共要付多少元？", [2 * 10 + 3 * 6], {}),
    ("word", "一件衣服原价80元，打八折后是多少元？", [80 * F(8, 10)], {}),
    ("word", "一根绳子长24米，用去了它的三分之一，还剩多少米？", [24 - F(24, 3)], {}),
    ("word", "小明有邮票18张，小红的邮票是小明的2倍，两人一共有多少张？", [18 + 2 * 18], {}),
    ("word", "32个同学分成每组4人，可以分成几组？", [F(32, 4)], {}),
    ("word", "小丽每周存10元，存了6周后买书花了25元，还剩多少元？", [10 * 6 - 25], {}),
    ("word", "果园里有苹果树60棵，梨树比苹果树少15棵，两种树一共多少棵？", [60 + (60 - 15)], {}),
    ("word", "一本书有180页，已经看了它的四分之一，还剩多少页没看？", [180 - F(180, 4)], {}),
    ("word", "每箱装12瓶水，要装100瓶水至少需要几个箱子？", [-(-100 // 12)], {}),
    ("word", "三个数的平均数是20，其中两个数是18和25，第三个数是多少？", [3 * 20 - 18 - 25], {}),
    ("word", "一台电脑打九折后是4500元，原价是多少元？", [4500 / F(9, 10)], {}),
    ("word", "爸爸比儿子大28岁，两人年龄和是50岁，儿子几岁？", [F(50 - 28, 2)], {}),
    ("word", "一个书架有3层，每层放40本书，借走了35本，还剩多少本？", [3 * 40 - 35], {}),
    # --- 方程
    ("equation", "如果 3x + 5 = 20，那么 x 等于多少？", [F(20 - 5, 3)], {}),
    ("equation", "一个数的3倍减去4等于20，这个数是多少？", [F(20 + 4, 3)], {}),
    ("equation", "解方程：5(y − 1) = 30。", [F(30, 5) + 1], {}),
    ("equation", "已知 a ÷ 4 + 3 = 8，求 a。", [(8 - 3) * 4], {}),
    ("equation", "某数加上12以后再乘2，得50。某数是多少？", [F(50, 2) - 12], {}),
    ("equation", "解方程 9m = 4m + 35。", [F(35, 9 - 4)], {}),
    # --- 方程组
    ("system", "已知 x + y = 20，x − y = 6，求 x 和 y。", [F(20 + 6, 2), F(20 - 6, 2)], {"note": "x, y"}),
    # 3a + b = 14, a + b = 6: 2a = 8
    ("system", "解方程组：3a + b = 14，a + b = 6。a、b各是多少？", [F(14 - 6, 2), 6 - F(14 - 6, 2)], {"note": "a, b"}),
    (
        "system",
        "两个数的和是45，差是7，这两个数分别是多少？",
        [F(45 + 7, 2), F(45 - 7, 2)],
        {"note": "较大, 较小", "unordered": True},
    ),
    # 鸡 + 兔 = 10, 2鸡 + 4兔 = 28: 2兔 = 28 - 20
    (
        "system",
        "笼子里有鸡和兔共10只，脚共28只。鸡和兔各有几只？",
        [10 - F(28 - 20, 2), F(28 - 20, 2)],
        {"note": "鸡, 兔"},
    ),
    (
        "system",
        "甲乙两人共有60元，甲比乙多10元，甲、乙各有多少元？",
        [F(60 + 10, 2), F(60 - 10, 2)],
        {"note": "甲, 乙"},
    ),
    # 3p + 2n = 26, p + 2n = 14: 2p = 12
    (
        "system",
        "买3支钢笔和2本笔记本共花26元，买1支钢笔和2本笔记本共花14元。钢笔和笔记本每个各多少元？",
        [F(26 - 14, 2), F(14 - F(26 - 14, 2), 2)],
        {"note": "钢笔, 笔记本"},
    ),
    # --- 比较
    (
        "comparison",
        "小华有27张卡片，小丽有31张卡片。小华和小丽谁的卡片多？",
        ["小华" if 27 > 31 else "小丽"],
        {"choices": ["小华", "小丽"]},
    ),
    (
        "comparison",
        "甲跑了3千米，乙跑了2900米。甲和乙谁跑得远？",
        ["甲" if 3000 > 2900 else "乙"],
        {"choices": ["甲", "乙"]},
    ),
    (
        "comparison",
        "王老师买了4盒笔，每盒12支；李老师买了6盒笔，每盒9支。王老师和李老师谁买的笔多？",
        ["王老师" if 4 * 12 > 6 * 9 else "李老师"],
        {"choices": ["王老师", "李老师"]},
    ),
    (
        "comparison",
        "苹果每千克6元，梨每3千克15元。苹果和梨哪个更便宜？",
        ["苹果" if F(15, 3) > 6 else "梨"],
        {"choices": ["苹果", "梨"]},
    ),
    (
        "comparison",
        "明明用了2/3小时做作业，亮亮用了35分钟。明明和亮亮谁用的时间长？",
        ["明明" if F(2, 3) * 60 > 35 else "亮亮"],
        {"choices": ["明明", "亮亮"]},
    ),
    # --- 是否
    ("yesno", "51是质数吗？", ["yes" if all(51 % d for d in range(2, 51)) else "no"], {}),
    ("yesno", "36能被4整除吗？", ["yes" if 36 % 4 == 0 else "no"], {}),
    ("yesno", "0.3比三分之一大吗？", ["yes" if F("0.3") > F(1, 3) else "no"], {}),
    ("yesno", "1千克棉花和1000克铁一样重吗？", ["yes" if 1 * 1000 == 1000 else "no"], {}),
    ("yesno", "一年有12个月，那么两年是否超过25个月？", ["yes" if 2 * 12 > 25 else "no"], {}),
]


def fresh() -> list[Row]:
    rows: list[Row] = []
    for lang, table in (("en", EN), ("zh", ZH)):
        for i, (kind, question, values, extra) in enumerate(table):
            row: Row = {"id": f"f-{lang}-{i:02d}", "lang": lang, "rung": kind, "question": question}
            row["gold"] = [gold(v) for v in values]
            row.update(extra)
            rows.append(row)
    return rows


def main() -> None:
    rows = fresh()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {OUT}")


if __name__ == "__main__":
    main()
