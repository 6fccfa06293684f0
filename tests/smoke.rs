use interfaces::*;
#[test]
fn smoke() {
    let calc = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    assert_eq!(calc.add(2, 3), 5);
    assert_eq!(calc.shout("hi"), "HI");
    let mut v = vec![1];
    assert_eq!(calc.push_twice(&mut v, 7), 3);
    assert_eq!(v, vec![1, 7, 7]);
    assert_eq!(calc.divide(1, 0), Err(CalcError::DivideByZero));
    assert_eq!(calc.reverse_bytes(vec![1, 2, 3]), vec![3, 2, 1]);
    assert_eq!(calc.checksum(&[1, 2]), 33);
}
