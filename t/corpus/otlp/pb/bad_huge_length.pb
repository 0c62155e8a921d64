
ÿÿÿÿabc